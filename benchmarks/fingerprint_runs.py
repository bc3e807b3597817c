"""Fingerprint what optimization runs do, to prove a refactor behaviour-neutral.

For every bundled task and seed this runs ``mipro_core.optimize`` on the simulated LM at a fixed
call cap and records what a user could observe: every trial (kind, parameters, score, example ids,
LM calls, errors), the run's LM-call and token counts, the stop reason, the candidates and the
final program state. Timings are left out. Record before a change, record after, compare::

    python benchmarks/fingerprint_runs.py record before.json
    # ... change the engine ...
    python benchmarks/fingerprint_runs.py record after.json
    python benchmarks/fingerprint_runs.py compare before.json after.json

``compare`` exits 1 and names the first difference of every (task, seed) that differs.
Runs go to ``--jobs`` processes; each run is deterministic for its seed whatever the thread
timing, so the number of threads does not matter as long as both records use the same.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mipro_core as mc
from mipro_core.testing import TASK_NAMES, SimulatedLM, load_task

CAPS = {"rule_qa": 600, "multihop_qa": 1500, "scone_nli": 600, "rule_qa_vote": 1500}
"""A call cap per task: large enough for proposals, minibatches and full evaluations."""


def fingerprint(task_name: str, seed: int, threads: int) -> dict[str, Any]:
    """What one run did, without timings."""
    logging.disable(logging.WARNING)
    task = load_task(task_name)
    program = task.make_program(SimulatedLM(seed=seed))
    result = mc.optimize(
        program,
        task.trainset,
        task.metric,
        valset=task.valset,
        seed=seed,
        num_threads=threads,
        max_lm_calls=CAPS[task_name],
        progress=None,
    )
    timing = {"seconds", "elapsed", "total_lm_calls"}  # progress counters depend on timing
    trials = [
        {k: v for k, v in trial.to_dict().items() if k not in timing} for trial in result.trials
    ]
    return {
        "trials": trials,
        "lm_calls": result.lm_calls,
        "task_lm_calls": result.task_lm_calls,
        "proposer_lm_calls": result.proposer_lm_calls,
        "tokens": [result.prompt_tokens, result.completion_tokens],
        "stopped_reason": result.stopped_reason,
        "baseline": result.baseline_score,
        "best": result.best_score,
        "best_params": dict(result.best_params),
        "instructions": {k: list(v) for k, v in result.instruction_candidates.items()},
        "demo_set_sizes": {k: list(v) for k, v in result.demo_set_sizes.items()},
        "state": result.state.to_dict(),
    }


def _run(job: tuple[str, int, int]) -> tuple[str, dict[str, Any]]:
    name, seed, threads = job
    return f"{name}/{seed}", fingerprint(name, seed, threads)


def record(path: Path, tasks: Sequence[str], seeds: range, threads: int, jobs: int) -> None:
    work = [(name, seed, threads) for name in tasks for seed in seeds]
    out: dict[str, Any] = {}
    with cf.ProcessPoolExecutor(jobs) as pool:
        for key, value in pool.map(_run, work):
            out[key] = value
            print(f"{key}: {len(value['trials'])} trials, {value['lm_calls']} calls", flush=True)
    path.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")


def first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """A path to the first place where ``a`` and ``b`` differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{where}/{key}: only in {'after' if key not in a else 'before'}"
            found = first_difference(a[key], b[key], f"{where}/{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} items before, {len(b)} after"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{where}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{where}: {a!r} before, {b!r} after"


def compare(before: Path, after: Path) -> int:
    a = json.loads(before.read_text())
    b = json.loads(after.read_text())
    differing = 0
    for key in sorted(set(a) | set(b)):
        found = first_difference(a.get(key), b.get(key))
        if found:
            differing += 1
            print(f"{key}: {found}")
    print(f"{len(a)} runs before, {len(b)} after, {differing} differ")
    return 1 if differing or set(a) != set(b) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="run and write the fingerprints to a JSON file")
    rec.add_argument("out", type=Path)
    rec.add_argument("--tasks", nargs="+", default=list(TASK_NAMES), choices=TASK_NAMES)
    rec.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1 (default 20)")
    rec.add_argument("--threads", type=int, default=4)
    rec.add_argument("--jobs", type=int, default=2)
    cmp_ = sub.add_parser("compare", help="compare two recorded files")
    cmp_.add_argument("before", type=Path)
    cmp_.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "record":
        record(args.out, args.tasks, range(args.seeds), args.threads, args.jobs)
        return 0
    return compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
