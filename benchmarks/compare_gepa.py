"""MIPRO vs DSPy's GEPA on the bundled simulated tasks, at GEPA's own LM-call budget.

Needs the ``bench`` extra (``pip install "dspy>=3.4" matplotlib scipy``). Shares the DSPy
versions of the tasks and the ``SimulatedDSPyLM`` wrapper with ``compare_dspy.py`` (see
``dspy_tasks.py``; GEPA's instruction proposer talks to the wrapper through DSPy's
``JSONAdapter``, which the wrapper translates like ``ChatAdapter``). First the parity check of
``compare_dspy.py --check``; then per task and seed ``s``:

1. ``dspy.GEPA(auto="light", seed=s, num_threads=8)`` compiles the DSPy version of the task,
   with ``SimulatedDSPyLM(SimulatedLM(seed=s))`` as the task LM (temperature 0) and as the
   reflection LM (temperature 1.0, as GEPA's docs recommend) and a metric that returns
   ``dspy.Prediction(score=..., feedback=...)``; its LM calls ``C`` (task + reflection, cache
   misses only, like DSPy's cached ``dspy.LM``) are counted in the wrapper;
2. MIPRO (``strategy="mipro"``, defaults) runs at ``max_lm_calls=C`` (``max_trials=1000``, so
   the cap stops it) with the same LM seed and the same feedback: its metric returns
   ``(score, feedback)``, which its repair round shows the proposer for failing examples;
   MIPRO with the plain metric (no feedback) runs at the same cap for reference;
3. the winners are scored on the test split and compared by paired tests across seeds.

The feedback is what a user would write: whether the answer was right (quoting a wrong one)
and, on a line of its own, the expected answer (:func:`feedback`)::

    python benchmarks/compare_gepa.py --seeds 20 --jobs 2 --write-docs
    python benchmarks/compare_gepa.py --seeds 2 --tasks rule_qa      # quick look

Seeds start at 1, as in ``compare_dspy.py``.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import io
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import dspy

import mipro_core as mc
from mipro_core import Example
from mipro_core.testing import SimulatedLM, Task, answer_text, load_task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_dspy import check_parity, quiet_dspy
from compare_optimizers import (
    MAX_TRIALS,
    run_baseline,
    run_one,
    test_score,
)
from docs_sections import write_section
from dspy_tasks import (
    DSPY_TASKS,
    SimulatedDSPyLM,
    Stats,
    dspy_test_score,
    make_dspy_program,
    to_dspy_examples,
)
from gepa_report import REFLECTION_TEMPERATURE, GepaOptions, Row, render

ROOT = Path(__file__).resolve().parent.parent
DOCS_PATH = ROOT / "docs" / "benchmarks.md"
SECTION = "compare_gepa.py"


def feedback(gold: str, predicted: str, score: float) -> str:
    """The metric's feedback on one answer (the same text for GEPA and MIPRO)."""
    verdict = (
        "The answer is correct." if score >= 1.0 else f"The answer {predicted!r} is incorrect."
    )
    return f"{verdict}\nExpected answer: {gold}"


def _scored(task: Task, gold: Any, prediction: Any) -> tuple[float, str]:
    example = Example({"question": gold["question"]}, {"answer": gold["answer"]})
    score = float(task.metric(example, prediction))
    return score, feedback(str(gold["answer"]), answer_text(prediction), score)


def gepa_metric(task: Task) -> Callable[..., Any]:
    """The task's metric with GEPA's signature, returning ``dspy.Prediction(score, feedback)``."""

    def metric(
        gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None
    ) -> Any:
        score, text = _scored(task, {"question": gold.question, "answer": gold.answer}, pred)
        return dspy.Prediction(score=score, feedback=text)

    return metric


def native_metric(task: Task) -> Callable[..., tuple[float, str]]:
    """The task's metric for MIPRO, returning ``(score, feedback)``."""

    def metric(example: Example, prediction: Any, trace: Any = None) -> tuple[float, str]:
        gold = {"question": example.inputs["question"], "answer": example.outputs["answer"]}
        return _scored(task, gold, prediction)

    return metric


def run_gepa(task: Task, seed: int, options: GepaOptions) -> Row:
    """DSPy GEPA light on the task (task and reflection LM: the same simulated model)."""
    task_stats, reflection_stats = Stats(), Stats()
    lm = SimulatedDSPyLM(SimulatedLM(seed=seed), task_stats)
    reflection_lm = SimulatedDSPyLM(
        SimulatedLM(seed=seed), reflection_stats, temperature=options.temperature
    )
    dspy.configure(lm=lm)
    optimizer = dspy.GEPA(
        metric=gepa_metric(task),
        auto="light",
        reflection_lm=reflection_lm,
        seed=seed,
        num_threads=8,
        track_stats=True,
        component_selector=options.component_selector,
    )
    start = time.perf_counter()
    sink = io.StringIO()  # DSPy and GEPA print progress bars
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        best = optimizer.compile(
            make_dspy_program(task),
            trainset=to_dspy_examples(task.trainset),
            valset=to_dspy_examples(task.valset),
        )
    wall = time.perf_counter() - start
    details = best.detailed_results
    row = {
        "lm_calls": float(task_stats.calls + reflection_stats.calls),
        "reflection_calls": float(reflection_stats.calls),
        "candidates": float(len(details.candidates)),
        "metric_calls": float(details.total_metric_calls or 0),
        "val": float(max(details.val_aggregate_scores)),
        "seconds": wall,
    }
    row["test"] = dspy_test_score(task, best, to_dspy_examples(task.testset))
    return row


def run_mipro(task: Task, seed: int, cap: int) -> Row:
    """MIPRO at ``max_lm_calls=cap`` with the feedback metric; same LM seed as GEPA's run."""
    program = task.make_program(SimulatedLM(seed=seed))
    start = time.perf_counter()
    result = mc.optimize(
        program,
        task.trainset,
        native_metric(task),
        valset=task.valset,
        strategy="mipro",
        seed=seed,
        num_threads=8,
        max_lm_calls=cap,
        max_trials=MAX_TRIALS,
        progress=None,
    )
    return {
        "test": test_score(task, program),
        "val": result.best_score,
        "lm_calls": float(result.lm_calls),
        "trials": float(len(result.trials)),
        "seconds": time.perf_counter() - start,
    }


def run_seed(name: str, seed: int, options: GepaOptions) -> dict[str, Row]:
    """GEPA, then MIPRO with and without feedback at GEPA's calls, and the baseline."""
    quiet_dspy()  # again: a worker process starts with DSPy's default logging
    task = load_task(name)
    if options.val_size is not None:  # both optimizers get the same, smaller split
        task = attrs.evolve(task, valset=task.valset[: options.val_size])
    gepa = run_gepa(task, seed, options)
    cap = int(gepa["lm_calls"])
    mipro = run_mipro(task, seed, cap)
    plain = run_one(task, "mipro", seed, cap)
    print(
        f"{name} seed={seed} C={cap}: gepa {gepa['test']:.3f} "
        f"({gepa['candidates']:.0f} candidates, {gepa['seconds']:.1f}s); "
        f"mipro {mipro['test']:.3f} ({mipro['seconds']:.1f}s); "
        f"mipro without feedback {plain['test']:.3f}",
        file=sys.stderr,
        flush=True,
    )
    return {"gepa": gepa, "mipro": mipro, "plain": plain, "baseline": run_baseline(task, seed)}


def run_tasks(
    names: Sequence[str], seeds: Sequence[int], jobs: int, options: GepaOptions
) -> dict[str, dict[str, list[Row]]]:
    """Every (task, seed) pair, ``jobs`` processes at a time; rows keep the seeds' order."""
    pairs = [(name, seed, options) for name in names for seed in seeds]
    if jobs > 1:
        with cf.ProcessPoolExecutor(jobs) as pool:
            done = list(pool.map(run_seed, *zip(*pairs, strict=True)))
    else:
        done = [run_seed(*pair) for pair in pairs]
    results: dict[str, dict[str, list[Row]]] = {}
    for (name, _, _), one in zip(pairs, done, strict=True):
        res = results.setdefault(name, {})
        for label, row in one.items():
            res.setdefault(label, []).append(row)
    return results


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (default 5)")
    parser.add_argument(
        "--jobs", type=int, default=1, help="(task, seed) pairs run at once (default 1)"
    )
    parser.add_argument(
        "--tasks", nargs="+", default=list(DSPY_TASKS), choices=list(DSPY_TASKS), metavar="TASK"
    )
    parser.add_argument(
        "--reflection-temperature",
        type=float,
        default=REFLECTION_TEMPERATURE,
        help=f"sampling temperature of GEPA's reflection LM (default {REFLECTION_TEMPERATURE:g})",
    )
    parser.add_argument(
        "--component-selector",
        choices=("round_robin", "all"),
        default="round_robin",
        help="which predictors one GEPA step rewrites (GEPA's default: round_robin, one)",
    )
    parser.add_argument(
        "--val-size",
        type=int,
        default=None,
        metavar="N",
        help="give both optimizers only the first N validation examples (default: all)",
    )
    parser.add_argument("--write-docs", action="store_true", help=f"update {DOCS_PATH.name}")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.seeds < 1:
        print("--seeds must be >= 1", file=sys.stderr)
        return 2
    quiet_dspy()
    begin = time.perf_counter()
    seeds = list(range(1, args.seeds + 1))
    parity = check_parity(args.tasks, seeds[0])
    if not all(r["identical"] and r["native"] == r["dspy"] for r in parity.values()):
        print("parity check failed: not comparing", file=sys.stderr)
        return 1
    options = GepaOptions(args.reflection_temperature, args.component_selector, args.val_size)
    results = run_tasks(args.tasks, seeds, max(1, args.jobs), options)
    text = render(seeds, results, parity, time.perf_counter() - begin, args.jobs, options)
    print(text)
    if args.write_docs:
        write_section(DOCS_PATH, SECTION, text)
        print(f"updated {DOCS_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
