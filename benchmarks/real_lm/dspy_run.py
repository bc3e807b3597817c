"""DSPy MIPROv2 on a real-model task, run with the DSPy venv's interpreter by ``run.py``::

    python dspy_run.py TASK SEED BASE_URL MAX_CALLS

Prints one JSON line: baseline and optimized test scores, LM calls, the winning instructions,
or the error that stopped the compile. The LM is ``dspy.LM("openai/smollm2", api_base=...)``
with temperature 0, a 64-token cap (DSPy's field markers need more room than the mipro side's
one-word answers at 16; sent as ``max_tokens`` in the body, which the server reads), no cache. The calls are counted in a ``dspy.LM`` subclass; past ``MAX_CALLS`` (mipro's cap) it
raises, so both spend at most the same (MIPROv2 has no call cap of its own).
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import data
import dspy

TEST_SIZE = 60
ZERO_SHOT = {
    "sentiment": "Classify the sentiment of the review.",
    "triage": "Classify the customer's problem.",
    "lookup": "Answer the question using the context.",
}


class CountingLM(dspy.LM):  # type: ignore[misc]
    calls = 0
    cap = 10**9

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        type(self).calls += 1
        if type(self).calls > type(self).cap:
            raise RuntimeError(f"LM-call cap {type(self).cap} reached")
        return super().forward(*args, **kwargs)


def program(task: str) -> Any:
    if task == "sentiment":
        return dspy.Predict(dspy.Signature("review -> label", ZERO_SHOT[task]))
    if task == "lookup":
        return Lookup()

    class Triage(dspy.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.summarize = dspy.Predict(
                dspy.Signature(
                    "message -> summary", "Summarize the customer's message in one short sentence."
                )
            )
            self.classify = dspy.Predict(dspy.Signature("summary -> label", ZERO_SHOT[task]))

        def forward(self, message: str) -> Any:
            return self.classify(summary=self.summarize(message=message).summary)

    return Triage()


class Lookup(dspy.Module):  # type: ignore[misc]
    """The ``lookup`` query engine as a DSPy module: the same retrieved document
    (``data.document_for``, what the LlamaIndex keyword retriever returns) as context, one
    ``context, question -> answer`` prediction, returned as ``label`` like the other tasks'."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = dspy.Predict(
            dspy.Signature("context, question -> answer", ZERO_SHOT["lookup"])
        )

    def forward(self, query: str) -> Any:
        reply = self.answer(context=data.document_for(query), question=query)
        return dspy.Prediction(label=reply.answer)


def examples(task: str, part: str) -> list[Any]:
    field = data.INPUT[task]
    return [dspy.Example(**row).with_inputs(field) for row in data.split(task, part)]


TASK = ""
"""The task being run (set by ``main``): it picks the metric in ``data.METRICS``."""


def metric(example: Any, prediction: Any, trace: Any = None) -> float:
    return data.METRICS[TASK](example.label, getattr(prediction, "label", ""))


def score(prog: Any, test: list[Any]) -> float:
    total = 0.0
    for ex in test:
        # a reply DSPy cannot parse scores 0, as on the mipro side
        with contextlib.suppress(Exception):
            total += metric(ex, prog(**ex.inputs()))
    return total / len(test)


def main() -> None:
    global TASK
    task, seed, base_url, max_calls = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    TASK = task
    with_baseline = "--no-baseline" not in sys.argv[5:]
    lm = CountingLM(
        "openai/smollm2", api_base=base_url, api_key="local", temperature=0.0,
        max_tokens=64, extra_body={"max_tokens": 64}, cache=False, num_retries=1,
    )  # fmt: skip
    dspy.configure(lm=lm)
    train, val, test = (examples(task, p) for p in ("train", "val", "test"))
    test = test[:TEST_SIZE]
    out: dict[str, Any] = {"lm": "dspy " + dspy.__version__}
    if with_baseline:
        # the un-optimized program's score does not depend on the seed (temperature 0): computed
        # once per task and server session, then read back (it costs 60 slow calls)
        cached = (
            Path(tempfile.gettempdir()) / f"mipro-real-lm-dspy-baseline-{task}-{len(test)}.json"
        )
        if cached.exists():
            out["baseline"] = json.loads(cached.read_text())["baseline"]
        else:
            out["baseline"] = score(program(task), test)
            cached.write_text(json.dumps({"baseline": out["baseline"]}))
    CountingLM.calls, CountingLM.cap = 0, max_calls
    start = time.perf_counter()
    try:
        optimizer = dspy.MIPROv2(metric=metric, auto="light", seed=seed, num_threads=2)
        compiled = optimizer.compile(program(task), trainset=train, valset=val)
        out["lm_calls"] = CountingLM.calls
        out["compile_seconds"] = time.perf_counter() - start
        CountingLM.cap = 10**9
        out["test"] = score(compiled, test)
        out["winner"] = {
            name: {"instruction": p.signature.instructions, "demos": len(p.demos)}
            for name, p in compiled.named_predictors()
        }
    except Exception as exc:
        out["lm_calls"] = CountingLM.calls
        out["compile_seconds"] = time.perf_counter() - start
        out["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        out["trace"] = traceback.format_exc().splitlines()[-3:]
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
