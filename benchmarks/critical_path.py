"""Where the wall time of the scaling job goes, in rounds of LM calls.

Runs the job of ``scaling.py`` (``rule_qa``, uncapped MIPRO ``budget='light'``, seed 0) at
``--threads`` T with a long simulated latency (default 0.3 s), so that the optimizer's own CPU
is negligible and the wall time divided by the latency counts the *rounds* of calls the run's
dependencies force. The physical limit is calls / T rounds; a run that used every thread all
the time would take that many. Prints, per round, the program runs and proposer calls that
started in it, then every trial with the round it was recorded in::

    python benchmarks/critical_path.py --threads 64
    python benchmarks/critical_path.py --threads 16 --latency 0.5

Proposer calls are told apart by thread: ``mipro-grounding`` (program description and the
data summary's chain), ``MainThread`` / ``mipro-repair`` (the repair round), the pool (the
proposals' observations and instructions). Nothing is written; the numbers are for an issue
or docs/scaling.md.
"""

from __future__ import annotations

import argparse
import collections
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from scaling import run_job  # the script's own directory is on sys.path

from mipro_core.testing import SimulatedLM, load_task


class Timed:
    """An LM that notes when each call started, on which thread, and for whom."""

    def __init__(self, lm: SimulatedLM, role: str, log: list[tuple[float, str, str]]) -> None:
        self.lm, self.role, self.log = lm, role, log
        self.start = 0.0
        self._lock = threading.Lock()

    def __call__(self, messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0) -> Any:
        with self._lock:
            self.log.append(
                (time.perf_counter() - self.start, self.role, threading.current_thread().name)
            )
        return self.lm(messages, n=n, temperature=temperature)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--task", default="rule_qa", help="a bundled task (default rule_qa)")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    lat, threads = args.latency, args.threads
    task = load_task(args.task)
    log: list[tuple[float, str, str]] = []
    task_lm = Timed(SimulatedLM(seed=0, latency=lat), "task", log)
    proposer = Timed(SimulatedLM(seed=0, latency=lat), "proposer", log)
    program = task.make_program(task_lm)
    start = time.perf_counter()
    task_lm.start = proposer.start = start
    result = run_job(task, program, threads, proposer_lm=proposer)
    rounds = (time.perf_counter() - start) / lat
    limit = len(log) / threads
    print(
        f"T={threads}, latency {lat} s: {len(log)} calls, {rounds:.1f} rounds of calls, "
        f"limit {limit:.1f} rounds (calls / T): wall / limit = {rounds / limit:.2f}"
    )
    per_round: dict[int, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for at, role, thread in log:
        where = "runs" if role == "task" else thread.rstrip("0123456789_")
        per_round[int(at / lat)][where] += 1
    print("\nround: calls started (runs = program runs; the rest are proposer calls by thread)")
    for r in range(int(rounds) + 1):
        print(f"{r:5d}: {dict(per_round[r]) or '-'}")
    print("\ntrial  kind       recorded at round  params")
    for trial in result.trials:
        print(
            f"{trial.number:5d}  {trial.kind:9s}  {trial.elapsed / lat:17.1f}  {dict(trial.params)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
