"""``mipro demo`` and ``mipro resume``: the commands that run the optimizer."""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path
from typing import Any

DEMO_META = "demo"


def configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", default="multihop_qa", help="bundled task (default: multihop_qa)")
    parser.add_argument("--budget", default="light", choices=["light", "medium", "heavy"])
    parser.add_argument("--seed", type=int, default=0, help="optimizer seed (default 0)")
    parser.add_argument("--threads", type=int, default=8, help="parallel LM calls (default 8)")
    parser.add_argument("--latency", type=float, default=0.0, help="simulated seconds per LM call")
    parser.add_argument(
        "--output", default="mipro-demo.json", help="artifact path (default mipro-demo.json)"
    )
    parser.add_argument("--journal", default=None, help="also journal the run to this SQLite file")


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
    from ._journal import Journal

    started = time.monotonic()
    task, program = _demo_program(args.task, args.latency)
    print(f"mipro demo: optimizing the '{task.name}' program ({len(program.modules)} LM stages)")
    print(f"  {task.description}")
    print("  model: SimulatedLM (an offline simulation, see docs/simulated-lm.md)")
    before = _test_score(task, program, args.threads)
    result = optimize(
        program,
        task.trainset,
        task.metric,
        valset=task.valset,
        budget=args.budget,
        seed=args.seed,
        num_threads=args.threads,
        progress=True,
        journal=args.journal,
        overwrite=False,
    )
    if args.journal:
        with Journal.open(args.journal) as store:
            store.set_meta(DEMO_META, {"task": args.task, "latency": args.latency})
    after = _test_score(task, program, args.threads)
    path = result.save(args.output)
    print()
    print(f"test score (held-out, {len(task.testset)} examples): {before:.3f} -> {after:.3f}")
    print(f"validation score: {result.baseline_score:.3f} -> {result.best_score:.3f}")
    print(
        f"LM calls: {result.lm_calls} (task {result.task_lm_calls}, "
        f"proposer {result.proposer_lm_calls}); trials: {len(result.trials)}; "
        f"wall time: {time.monotonic() - started:.1f}s"
    )
    print()
    print(result.summary().split("\n", 3)[3])
    print()
    print(f"artifact saved to {Path(path).resolve()} (view it with: mipro show {path})")
    return 0


def configure_resume(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("journal", help="the SQLite journal of the run to continue")
    parser.add_argument("--program", help="MODULE:FACTORY returning the program to optimize")
    parser.add_argument("--metric", help="MODULE:ATTRIBUTE naming the metric")
    parser.add_argument("--output", default=None, help="write the winning state to this artifact")
    parser.add_argument("--threads", type=int, default=None)


def _load(spec: str, what: str) -> Any:
    from ._errors import InvalidInputError

    module, _, attribute = spec.partition(":")
    if not module or not attribute:
        raise InvalidInputError(f"--{what} must look like 'package.module:name', got {spec!r}")
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise InvalidInputError(f"cannot load --{what} {spec!r}: {exc}") from exc


def run_resume(args: argparse.Namespace) -> int:
    from . import resume
    from ._errors import InvalidInputError
    from ._journal import Journal

    with Journal.open(args.journal) as store:
        demo = store.meta(DEMO_META)
    if args.program and args.metric:
        program, metric = _load(args.program, "program")(), _load(args.metric, "metric")
    elif demo is not None:
        task, program = _demo_program(demo["task"], float(demo.get("latency", 0.0)))
        metric = task.metric
    else:
        raise InvalidInputError(
            "this journal is not from `mipro demo`: pass --program MODULE:FACTORY and "
            "--metric MODULE:ATTRIBUTE so the program can be rebuilt"
        )
    result = resume(args.journal, program, metric, num_threads=args.threads, progress=True)
    print(result.summary())
    if args.output:
        print(f"artifact saved to {result.save(args.output)}")
    return 0
