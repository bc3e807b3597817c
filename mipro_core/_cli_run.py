"""``mipro demo``: optimize a bundled task against the simulated model, no API key needed."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ._cli_common import (
    DEMO_META,
    RunProgress,
    mark_finished,
    note,
    out,
    positive_int,
    quoted,
    resume_hint,
    save_artifact,
    write_journal_meta,
)
from ._result import trial_kinds


def configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", default="multihop_qa", help="bundled task (default: multihop_qa)")
    parser.add_argument("--budget", default="light", choices=["light", "medium", "heavy"])
    parser.add_argument("--seed", type=int, default=0, help="optimizer seed (default 0)")
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=8,
        help="parallel program runs, each making its stages' LM calls in turn (default 8)",
    )
    parser.add_argument(
        "--latency",
        type=_latency,
        default=0.0,
        help="simulated seconds per LM call (0 to 60)",
    )
    parser.add_argument(
        "--output",
        default="mipro-demo.json",
        help="artifact path (default mipro-demo.json in the current directory)",
    )
    parser.add_argument("--journal", default=None, help="also journal the run to this SQLite file")


def _latency(text: str) -> float:
    """``--latency``: simulated seconds per call, 0 to 60 (what a resume of the journal
    accepts)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 60:
        raise argparse.ArgumentTypeError(f"must be between 0 and 60 seconds, got {text}")
    return value


def _demo_program(task_name: str, latency: float) -> tuple[Any, Any]:
    from .testing import SimulatedLM, load_task

    task = load_task(task_name)
    return task, task.make_program(SimulatedLM(seed=0, latency=latency))


def _test_score(task: Any, program: Any, threads: int) -> float:
    import concurrent.futures as cf

    def one(example: Any) -> float:
        prediction, _ = program.run(dict(example.inputs))
        return float(task.metric(example, prediction))

    with cf.ThreadPoolExecutor(threads) as pool:
        scores = list(pool.map(one, task.testset))
    return sum(scores) / len(scores)


def run_demo(args: argparse.Namespace) -> int:
    from . import optimize

    started = time.monotonic()
    task, program = _demo_program(args.task, args.latency)
    journal = Path(args.journal) if args.journal else None
    out(f"mipro demo: optimizing the '{task.name}' program ({len(program.modules)} LM stages)")
    out(f"  {task.description}")
    out("  model: SimulatedLM (an offline simulation, see docs/simulated-lm.md)")
    before = _test_score(task, program, args.threads)

    def remember() -> None:
        if journal is not None:
            # absolute: a resume from another folder writes where this run said, or refuses
            artifact = str(Path(args.output).resolve())
            meta = {"task": args.task, "latency": args.latency, "artifact": artifact}
            write_journal_meta(journal, {DEMO_META: meta})

    try:
        result = optimize(
            program,
            task.trainset,
            task.metric,
            valset=task.valset,
            budget=args.budget,
            seed=args.seed,
            num_threads=args.threads,
            progress=RunProgress(remember),
            journal=journal,
            overwrite=False,
        )
    except KeyboardInterrupt:
        note(resume_hint(journal))
        return 130
    after = _test_score(task, program, args.threads)
    path = save_artifact(result, args.output, journal)
    if result.stopped_reason != "interrupted":
        mark_finished(journal)
    out()
    out(f"test score (held-out, {len(task.testset)} examples): {before:.3f} -> {after:.3f}")
    out(f"validation score: {result.baseline_score:.3f} -> {result.best_score:.3f}")
    out(
        f"LM calls: {result.lm_calls} (task {result.task_lm_calls}, "
        f"proposer {result.proposer_lm_calls}); trials: {len(result.trials)} "
        f"({trial_kinds(result.trials)}); "
        f"wall time: {time.monotonic() - started:.1f}s"
    )
    out()
    out(result.summary().split("\n", 3)[3])
    out()
    out(f"artifact saved to {Path(path).resolve()} (view it with: mipro show {quoted(path)})")
    if result.stopped_reason == "interrupted":
        note(resume_hint(journal))
        return 130
    return 0
