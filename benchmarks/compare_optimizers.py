"""Compare MIPRO with its ablations on the bundled simulated tasks at an equal LM-call budget.

For each task and seed this runs the un-optimized baseline and four optimizers
(``bootstrap-random-search``, ``zeroshot-mipro``, ``random-search``, ``mipro``), all with the
same ``max_lm_calls`` cap, and scores the winning program on the held-out test split. It then
runs a paired significance test (MIPRO vs each other optimizer, across seeds) and measures the
optimizer's own CPU time per trial and per LM call with a zero-latency LM::

    python benchmarks/compare_optimizers.py                      # 5 seeds, all tasks
    python benchmarks/compare_optimizers.py --seeds 3 --tasks rule_qa
    python benchmarks/compare_optimizers.py --write-docs         # also rewrite docs/benchmarks.md

The budget cap per task is the number of LM calls an uncapped MIPRO ``budget="light"`` run
uses at seed 0, rounded up to the next multiple of ``ROUND_TO``. Every optimizer gets that cap
and ``max_trials=MAX_TRIALS`` (far more than the cap allows), so the call cap is what stops it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy
from docs_sections import write_section
from scipy import stats

import mipro_core as mc
from mipro_core.testing import TASK_NAMES, SimulatedLM, Task, load_task

OPTIMIZERS = ("bootstrap-random-search", "zeroshot-mipro", "random-search", "mipro")
ROUND_TO = 250
MAX_TRIALS = 1000
OVERHEAD_REPEATS = 3
DOCS_PATH = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


class TimedLM:
    """Forward to a :class:`SimulatedLM`, adding up the CPU time spent inside calls.

    ``clock`` is :func:`time.process_time` (whole process; right when the optimizer runs with
    one thread) or :func:`time.thread_time` (the calling thread only; right with many threads).
    """

    def __init__(self, inner: SimulatedLM, clock: Callable[[], float] = time.process_time) -> None:
        self.inner = inner
        self.clock = clock
        self.cpu_seconds = 0.0
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
        start = self.clock()
        try:
            return self.inner(messages, n=n, temperature=temperature)
        finally:
            self._add(self.clock() - start)

    def complete(self, prompt: str, *, temperature: float = 0.0) -> str:
        start = self.clock()
        try:
            return self.inner.complete(prompt, temperature=temperature)
        finally:
            self._add(self.clock() - start)

    def _add(self, seconds: float) -> None:
        with self._lock:
            self.cpu_seconds += seconds
            self.calls += 1


def test_score(task: Task, program: Any) -> float:
    """Mean metric of ``program`` over the task's test split."""
    total = 0.0
    for ex in task.testset:
        prediction = program.run(dict(ex.inputs))[0]
        total += float(task.metric(ex, prediction))
    return total / len(task.testset)


def calibrate_cap(task: Task) -> tuple[int, int]:
    """(LM calls of an uncapped MIPRO light run at seed 0, that number rounded up)."""
    program = task.make_program(SimulatedLM(seed=0))
    result = mc.optimize(
        program,
        task.trainset,
        task.metric,
        valset=task.valset,
        strategy="mipro",
        seed=0,
        progress=None,
    )
    calls = result.lm_calls
    return calls, ROUND_TO * math.ceil(calls / ROUND_TO)


def run_one(task: Task, strategy: str, seed: int, cap: int) -> dict[str, float]:
    """One optimizer run; the LM's seed follows the run's seed, so seeds are full replicates."""
    program = task.make_program(SimulatedLM(seed=seed))
    start = time.perf_counter()
    result = mc.optimize(
        program,
        task.trainset,
        task.metric,
        valset=task.valset,
        strategy=strategy,
        seed=seed,
        num_threads=8,
        max_lm_calls=cap,
        max_trials=MAX_TRIALS,
        progress=None,
    )
    wall = time.perf_counter() - start
    return {
        "test": test_score(task, program),
        "val": result.best_score,
        "lm_calls": float(result.lm_calls),
        "trials": float(len(result.trials)),
        "seconds": wall,
    }


def run_baseline(task: Task, seed: int) -> dict[str, float]:
    program = task.make_program(SimulatedLM(seed=seed))
    return {"test": test_score(task, program), "val": math.nan, "lm_calls": 0.0}


def measure_overhead(task: Task, repeats: int = OVERHEAD_REPEATS) -> dict[str, float]:
    """The run with the median own CPU time among ``repeats`` identical runs."""
    runs = sorted((overhead_once(task) for _ in range(repeats)), key=lambda o: o["own_cpu"])
    return runs[len(runs) // 2]


def overhead_once(task: Task) -> dict[str, float]:
    """CPU time of an uncapped MIPRO light run, minus the CPU time spent inside the LM."""
    lm = TimedLM(SimulatedLM(seed=0, latency=0.0))
    program = task.make_program(lm)
    start = time.process_time()
    result = mc.optimize(
        program,
        task.trainset,
        task.metric,
        valset=task.valset,
        strategy="mipro",
        seed=0,
        num_threads=1,
        progress=None,
    )
    total = time.process_time() - start
    own = total - lm.cpu_seconds
    trials = len(result.trials)
    return {
        "total_cpu": total,
        "lm_cpu": lm.cpu_seconds,
        "own_cpu": own,
        "trials": float(trials),
        "lm_calls": float(result.lm_calls),
        "per_trial_ms": 1000.0 * own / max(1, trials),
        "per_call_us": 1e6 * own / max(1, result.lm_calls),
    }


def mean_sd(values: Sequence[float]) -> str:
    if len(values) < 2:
        return f"{statistics.fmean(values):.3f}"
    return f"{statistics.fmean(values):.3f} ± {statistics.stdev(values):.3f}"


def paired_tests(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """(mean difference a - b, paired t-test p, Wilcoxon signed-rank p); nan where undefined."""
    diff = np.asarray(a) - np.asarray(b)
    mean_diff = float(diff.mean())
    if len(diff) < 2 or np.allclose(diff, 0.0):
        return mean_diff, math.nan, math.nan
    t_p = float(stats.ttest_rel(a, b).pvalue)
    try:
        w_p = float(stats.wilcoxon(a, b).pvalue)
    except ValueError:
        w_p = math.nan
    return mean_diff, t_p, w_p


def fmt_p(p: float) -> str:
    if math.isnan(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def task_section(
    name: str, calibration: tuple[int, int], rows: dict[str, list[dict[str, float]]]
) -> list[str]:
    used, cap = calibration
    lines = [
        f"### {name}",
        "",
        f"LM-call cap for every optimizer: **{cap}** (uncapped MIPRO light used {used} at "
        f"seed 0), `max_trials={MAX_TRIALS}`.",
        "",
        "| optimizer | test score (mean ± sd) | val score | LM calls | trials | wall s |",
        "|---|---|---|---|---|---|",
    ]
    for label, runs in rows.items():
        test = [r["test"] for r in runs]
        if label == "baseline":
            lines.append(f"| {label} | {mean_sd(test)} | – | 0 | – | – |")
            continue
        val = mean_sd([r["val"] for r in runs])
        calls = statistics.fmean(r["lm_calls"] for r in runs)
        trials = statistics.fmean(r["trials"] for r in runs)
        secs = statistics.fmean(r["seconds"] for r in runs)
        lines.append(
            f"| {label} | {mean_sd(test)} | {val} | {calls:.0f} | {trials:.1f} | {secs:.2f} |"
        )
    lines += [
        "",
        "Paired tests on the test score across seeds, MIPRO vs each other (Δ = MIPRO − other):",
        "",
        "| vs | Δ mean | t-test p | Wilcoxon p |",
        "|---|---|---|---|",
    ]
    mipro = [r["test"] for r in rows["mipro"]]
    for label, runs in rows.items():
        if label == "mipro":
            continue
        diff, t_p, w_p = paired_tests(mipro, [r["test"] for r in runs])
        lines.append(f"| {label} | {diff:+.3f} | {fmt_p(t_p)} | {fmt_p(w_p)} |")
    lines.append("")
    return lines


def overhead_section(overheads: dict[str, dict[str, float]]) -> list[str]:
    lines = [
        "## Optimizer CPU overhead",
        "",
        f"Uncapped MIPRO light run per task (median of {OVERHEAD_REPEATS} identical runs by "
        "own CPU), seed 0, `num_threads=1`, zero-latency "
        "`SimulatedLM`. Own CPU = `time.process_time()` of the whole `optimize` call minus the "
        "process CPU time spent inside LM calls (measured by a wrapper around the LM). It "
        "includes everything that is not the LM: search, proposal bookkeeping, prompt "
        "rendering and parsing, the metric, and (in `multihop_qa`) the BM25 retrieval.",
        "",
        "| task | total CPU s | in LM s | own CPU s | trials | LM calls | own ms / trial "
        "| own µs / LM call |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, o in overheads.items():
        lines.append(
            f"| {name} | {o['total_cpu']:.2f} | {o['lm_cpu']:.2f} | {o['own_cpu']:.2f} | "
            f"{o['trials']:.0f} | {o['lm_calls']:.0f} | {o['per_trial_ms']:.1f} | "
            f"{o['per_call_us']:.0f} |"
        )
    lines.append("")
    return lines


def machine_info() -> list[str]:
    return [
        f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- CPUs: {os.cpu_count()} ({platform.machine()}, {platform.system()})",
        f"- python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, mipro_core {getattr(mc, '__version__', '?')}",
    ]


def render(
    seeds: int,
    calibrations: dict[str, tuple[int, int]],
    results: dict[str, dict[str, list[dict[str, float]]]],
    overheads: dict[str, dict[str, float]],
    elapsed: float,
) -> str:
    lines = [
        "# Benchmarks: MIPRO vs its ablations",
        "",
        "Generated by `python benchmarks/compare_optimizers.py --write-docs` "
        f"({seeds} seeds, {elapsed:.0f} s total). Do not edit by hand.",
        "",
        *machine_info(),
        "",
        "## Setup",
        "",
        "- Tasks: the bundled simulated tasks of `mipro_core.testing` (150 train, 150 val, "
        "200 test examples each), answered by `SimulatedLM` with zero latency. The numbers "
        "describe that simulation, not any real LLM.",
        "- Seed *s* is a full replicate: `SimulatedLM(seed=s)` and `optimize(..., seed=s)`. "
        "The baseline is the un-optimized program under the same LM seed.",
        "- Equal budget: each optimizer gets the same `max_lm_calls` (task + proposer calls), "
        "set to the calls of an uncapped MIPRO `budget='light'` run at seed 0 rounded up to "
        f"a multiple of {ROUND_TO}, with `max_trials={MAX_TRIALS}` so the call cap is what "
        "stops every run (a run may overshoot by the calls already in flight). "
        "`num_threads=8`.",
        "- Score: mean task metric on the test split, which no optimizer sees. "
        "`val score` is the optimizer's own best full-validation score.",
        "- Significance: paired across seeds (`scipy.stats.ttest_rel` and "
        "`scipy.stats.wilcoxon`). With 5 seeds the power is low: the two-sided exact "
        "Wilcoxon p-value can never be below 0.0625, so only the t-test can reach p < 0.05, "
        "and a non-significant result is not evidence of no difference.",
        "",
        "## Test scores",
        "",
    ]
    for name, rows in results.items():
        lines += task_section(name, calibrations[name], rows)
    lines += overhead_section(overheads)
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (default 5)")
    parser.add_argument(
        "--tasks", nargs="+", default=list(TASK_NAMES), choices=list(TASK_NAMES), metavar="TASK"
    )
    parser.add_argument("--write-docs", action="store_true", help=f"write {DOCS_PATH.name}")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.seeds < 1:
        print("--seeds must be >= 1", file=sys.stderr)
        return 2
    begin = time.perf_counter()
    calibrations: dict[str, tuple[int, int]] = {}
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    overheads: dict[str, dict[str, float]] = {}
    for name in args.tasks:
        task = load_task(name)
        calibrations[name] = calibrate_cap(task)
        cap = calibrations[name][1]
        rows: dict[str, list[dict[str, float]]] = {"baseline": []}
        rows.update({strategy: [] for strategy in OPTIMIZERS})
        for seed in range(args.seeds):
            rows["baseline"].append(run_baseline(task, seed))
            for strategy in OPTIMIZERS:
                rows[strategy].append(run_one(task, strategy, seed, cap))
                print(
                    f"{name} seed={seed} {strategy}: test={rows[strategy][-1]['test']:.3f}",
                    file=sys.stderr,
                    flush=True,
                )
        results[name] = rows
        overheads[name] = measure_overhead(task)
    text = render(args.seeds, calibrations, results, overheads, time.perf_counter() - begin)
    print(text)
    if args.write_docs:
        write_section(DOCS_PATH, "compare_optimizers.py", text)
        print(f"updated {DOCS_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
