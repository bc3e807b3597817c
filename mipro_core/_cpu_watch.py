"""Whether program runs keep this process's CPU busy, so that the interpreter lock rather than
the provider bounds how many runs make progress at once (see docs/scaling.md, "Threads")."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger("mipro_core.evaluate")

BUSY = 0.75
"""An evaluation whose runs' CPU time is at least this share of its wall time is CPU-bound."""

MIN_SECONDS = 0.2
"""Evaluations shorter than this are not judged (too little to tell)."""


class CpuWatch:
    """Adds up the CPU time of program runs (each measured on its own thread) and says once per
    optimization when an evaluation's runs kept the process busy (:data:`BUSY`).

    Args:
        threads: the runs in flight at once (``num_threads``), for the message.
        wall: the wall clock.
        cpu: the CPU clock of the calling thread (``time.thread_time``; time spent waiting for
            the interpreter lock is not CPU time).
    """

    def __init__(
        self,
        threads: int,
        *,
        wall: Callable[[], float] = time.monotonic,
        cpu: Callable[[], float] = time.thread_time,
    ) -> None:
        self.threads = threads
        self.wall = wall
        self.cpu = cpu
        self.busiest = 0.0
        """The highest CPU share of any judged evaluation so far."""
        self._run_cpu = 0.0
        self._lock = threading.Lock()
        self._warned = False

    def clock(self) -> float:
        """The calling thread's CPU clock (read before and after a run on a worker thread)."""
        return self.cpu()

    def add(self, seconds: float) -> None:
        """Count ``seconds`` of a run's CPU time."""
        with self._lock:
            self._run_cpu += seconds

    def start(self) -> tuple[float, float]:
        """A mark at the start of an evaluation: (wall clock, runs' CPU so far)."""
        with self._lock:
            return self.wall(), self._run_cpu

    def finish(self, mark: tuple[float, float]) -> None:
        """Judge the evaluation begun at ``mark``; log a warning the first time it was
        CPU-bound."""
        with self._lock:
            wall, cpu = self.wall() - mark[0], self._run_cpu - mark[1]
        if wall < MIN_SECONDS:
            return
        share = cpu / wall
        self.busiest = max(self.busiest, share)
        if share < BUSY or self._warned:
            return
        self._warned = True
        logger.warning(
            "program runs kept this process's CPU busy %.0f%% of an evaluation's %.1f s "
            "(num_threads=%d): the Python interpreter runs one thread at a time, so the "
            "runs' own CPU work, not the provider, limits how many make progress and more "
            "threads will not make them faster. Frameworks and SDKs spend a few ms of CPU per "
            "LM call (docs/benchmarks.md, client_cpu.py); a CPU-heavy program can spread its "
            "runs over processes with RayBackend (docs/scaling.md)",
            100 * share,
            wall,
            self.threads,
        )
