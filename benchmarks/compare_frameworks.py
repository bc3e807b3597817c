"""Optimize the same task natively, as a LangChain chain and as a LlamaIndex query engine.

For every (task, framework) pair of :data:`framework_tasks.FRAMEWORKS` (``multihop_qa``: native
and LangChain; ``rule_qa``: native, LangChain and LlamaIndex) and every seed this builds the
program on ``SimulatedLM(seed)``, scores it on a fixed test subset, runs
``mipro_core.optimize(obj, trainset, metric, valset=..., budget="light", seed=seed)`` and scores
the object again (it carries the winning prompts in place)::

    python benchmarks/compare_frameworks.py                  # 3 seeds
    python benchmarks/compare_frameworks.py --seeds 5 --write-docs

The optimizer's own CPU time is ``time.process_time()`` of the ``optimize`` call minus the CPU
time spent inside the LM, summed per call with ``time.thread_time()`` by a wrapper around the
``SimulatedLM`` (so it stays exact while the engine runs examples on several threads).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from compare_optimizers import machine_info
from docs_sections import DOCS_PATH, write_section
from framework_tasks import FRAMEWORKS, framework_version

import mipro_core as mc
from mipro_core import Example
from mipro_core.testing import SimulatedLM, Task, load_task

TEST_SIZE = 100
SECTION = "compare_frameworks.py"


class ThreadTimedLM:
    """Forward to a :class:`SimulatedLM`, adding up the calling thread's CPU time inside calls."""

    def __init__(self, inner: SimulatedLM) -> None:
        self.inner = inner
        self.cpu_seconds = 0.0
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
        start = time.thread_time()
        try:
            return self.inner(messages, n=n, temperature=temperature)
        finally:
            self._add(time.thread_time() - start)

    def complete(self, prompt: str, *, temperature: float = 0.0) -> str:
        start = time.thread_time()
        try:
            return self.inner.complete(prompt, temperature=temperature)
        finally:
            self._add(time.thread_time() - start)

    def _add(self, seconds: float) -> None:
        with self._lock:
            self.cpu_seconds += seconds
            self.calls += 1


def test_score(task: Task, obj: Any, examples: Sequence[Example]) -> float:
    """Mean metric of the (adapted) object over ``examples``, run one after another."""
    program = mc.adapt(obj)
    total = 0.0
    for ex in examples:
        prediction = program.run(dict(ex.inputs))[0]
        total += float(task.metric(ex, prediction))
    return total / len(examples)


def run_one(task: Task, framework: str, seed: int) -> dict[str, float]:
    build, convert = framework_version(task.name, framework)
    lm = ThreadTimedLM(SimulatedLM(seed=seed))
    obj = build(seed, lm=lm)
    train, val = convert(task.trainset), convert(task.valset)
    test = convert(task.testset[:TEST_SIZE])
    run_cpu_start = time.process_time()
    baseline = test_score(task, obj, test)
    run_cpu = time.process_time() - run_cpu_start - lm.cpu_seconds
    run_calls = lm.calls
    lm_cpu_before, calls_before = lm.cpu_seconds, lm.calls
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    result = mc.optimize(
        obj, train, task.metric, valset=val, budget="light", seed=seed, progress=None
    )
    wall = time.perf_counter() - wall_start
    total_cpu = time.process_time() - cpu_start
    lm_cpu = lm.cpu_seconds - lm_cpu_before
    seen_calls = lm.calls - calls_before
    own = total_cpu - lm_cpu
    return {
        "baseline": baseline,
        "test": test_score(task, obj, test),
        "val": result.best_score,
        "lm_calls": float(result.lm_calls),
        "seen_calls": float(seen_calls),
        "trials": float(len(result.trials)),
        "seconds": wall,
        "total_cpu": total_cpu,
        "lm_cpu": lm_cpu,
        "own_cpu": own,
        "per_call_us": 1e6 * own / max(1, result.lm_calls),
        "run_per_call_us": 1e6 * run_cpu / max(1, run_calls),
    }


def mean_sd(values: Sequence[float], digits: int = 3) -> str:
    if len(values) < 2:
        return f"{statistics.fmean(values):.{digits}f}"
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def table(results: dict[tuple[str, str], list[dict[str, float]]]) -> list[str]:
    lines = [
        "| task | framework | baseline test | optimized test | LM calls | trials | wall s "
        "| own CPU s | own µs / LM call | program alone µs / LM call |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (task, framework), runs in results.items():

        def col(key: str, runs: list[dict[str, float]] = runs) -> list[float]:
            return [r[key] for r in runs]

        lines.append(
            f"| {task} | {framework} | {mean_sd(col('baseline'))} | {mean_sd(col('test'))} | "
            f"{statistics.fmean(col('lm_calls')):.0f} | {statistics.fmean(col('trials')):.1f} | "
            f"{mean_sd(col('seconds'), 1)} | {mean_sd(col('own_cpu'), 1)} | "
            f"{mean_sd(col('per_call_us'), 0)} | {mean_sd(col('run_per_call_us'), 0)} |"
        )
    return lines


def render(
    seeds: int, results: dict[tuple[str, str], list[dict[str, float]]], elapsed: float
) -> str:
    lines = [
        "## Native vs LangChain vs LlamaIndex",
        "",
        f"Generated by `python benchmarks/compare_frameworks.py --write-docs` ({seeds} seeds, "
        f"{elapsed:.0f} s total). Do not edit by hand.",
        "",
        *machine_info(),
        "",
        "The same task optimized as a native `NativeProgram`, as a LangChain chain and as a "
        "LlamaIndex query engine (builders in `benchmarks/framework_tasks.py`), each with "
        "`mipro_core.optimize(obj, trainset, metric, valset=..., budget='light', seed=s)` "
        "(default `num_threads=8`, no call cap) on a zero-latency `SimulatedLM(seed=s)`:",
        "",
        "- `multihop_qa`, LangChain: the native program's shape as a chain (one query prompt "
        "used for both hops, BM25 retrieval between them, then an answer prompt; 3 LM calls per "
        "question).",
        "- `rule_qa`, LangChain: one `ChatPromptTemplate | chat model | StrOutputParser()`.",
        "- `rule_qa`, LlamaIndex: a `VectorStoreIndex` RAG engine over one node per fact "
        "(answers written plainly, hashing embedding, `similarity_top_k=2`) with LlamaIndex's "
        "default `as_query_engine` prompts; examples take `{'query': ...}`. Its task differs "
        "from the others (retrieved context, LlamaIndex's own prompt), so its scores are not "
        "directly comparable with the native row.",
        "",
        f"Test scores are on the first {TEST_SIZE} test examples (the same subset everywhere), "
        "before (`baseline`) and after optimization, mean ± sd over seeds. LM calls and trials "
        "are the optimizer's (task + proposer calls, from `OptimizationResult`). "
        "Own CPU = `time.process_time()` of the `optimize` call minus the CPU time spent "
        "inside the `SimulatedLM` (summed per call with `time.thread_time()` by a wrapper). It "
        "includes everything else: the search, prompt rendering and parsing, the metric, "
        "retrieval (BM25 in `multihop_qa`, vector search in LlamaIndex) and the framework's own "
        "overhead (LangChain runnables and callbacks, LlamaIndex synthesizers), so the "
        "framework rows measure mipro plus framework. The adapters have no `clone()`, so their "
        "trials run one after another (examples within a trial still run on the thread "
        "pool); native programs can run trials in parallel on replicas. Native programs "
        "also answer a repeated temperature-0 prompt from the optimizer's memo "
        "(`NativeProgram.attach_cache`) instead of calling the LM again; the adapters do not, "
        "which is why the LangChain `multihop_qa` chain makes more LM calls than the native "
        "program over the same trials and examples (its query prompt repeats whenever a trial "
        "changes only the answer prompt).",
        "",
        "`program alone` is the same non-LM CPU per LM call for just running the un-optimized "
        "program over the test subset (the baseline scoring, one example after another, no "
        "optimizer): the part of `own` that the program and its framework cost by themselves. "
        "For the LlamaIndex engine it is almost all of it: its `SimpleVectorStore` scores "
        "every query against all 500 node embeddings in Python and NumPy (about three quarters "
        "of a query's CPU in a profile), then the refine synthesizer builds the prompt. The "
        "optimizer's share is roughly `own − program alone`.",
        "",
        *table(results),
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (default 3)")
    parser.add_argument("--write-docs", action="store_true", help=f"write {DOCS_PATH.name}")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.seeds < 1:
        print("--seeds must be >= 1", file=sys.stderr)
        return 2
    begin = time.perf_counter()
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for name, frameworks in FRAMEWORKS.items():
        task = load_task(name)
        for framework in frameworks:
            runs = results.setdefault((name, framework), [])
            for seed in range(args.seeds):
                runs.append(run_one(task, framework, seed))
                r = runs[-1]
                print(
                    f"{name} {framework} seed={seed}: {r['baseline']:.3f} -> {r['test']:.3f}, "
                    f"{r['lm_calls']:.0f} calls ({r['seen_calls']:.0f} seen), "
                    f"{r['trials']:.0f} trials, {r['seconds']:.1f} s, "
                    f"own {r['per_call_us']:.0f} µs/call",
                    file=sys.stderr,
                    flush=True,
                )
    text = render(args.seeds, results, time.perf_counter() - begin)
    print(text)
    if args.write_docs:
        write_section(DOCS_PATH, SECTION, text)
        print(f"updated {DOCS_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
