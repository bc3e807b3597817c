"""How long to wait, and the one retry loop both the evaluator (task calls) and the proposer
client use. Which failures are worth retrying is :mod:`mipro_core._transient`."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from ._transient import is_transient, retry_after

__all__ = ["Backoff", "RetryPolicy", "RetryStopped", "is_transient", "retry_after"]

T = TypeVar("T")


class Backoff:
    """Jittered exponential backoff honoring retry-after hints.

    The jitter has its own RNG: waiting never touches the run's seeded random streams, so
    retries cannot change which configurations are tried.
    """

    def __init__(self, base: float = 0.5, maximum: float = 20.0) -> None:
        self.base = base
        self.maximum = maximum
        self._rng = random.Random()
        self._lock = threading.Lock()

    def delay(self, attempt: int, exc: BaseException) -> float:
        hint = retry_after(exc)
        if hint is not None:
            return min(hint, self.maximum)
        with self._lock:
            jitter = self._rng.uniform(0.5, 1.0)
        return float(min(self.maximum, self.base * (2**attempt)) * jitter)


class RetryStopped(Exception):
    """A transient failure was not retried: ``reason`` is ``"max_seconds"`` (the retry could
    not start before the deadline) or what ``admit`` refused it for (``"max_lm_calls"``: no
    call left). Raised ``from`` the failure."""

    def __init__(self, reason: str, failure: BaseException) -> None:
        super().__init__(f"{reason} reached while retrying ({type(failure).__name__}: {failure})")
        self.reason = reason
        self.failure = failure


class RetryPolicy:
    """The retry loop of every LM-calling step: transient failures are retried up to
    ``max_retries`` times with :class:`Backoff`; no attempt starts after ``deadline``
    (a ``clock()`` value) and a wait is cut at the deadline.

    ``clock`` and ``sleep`` are injectable so the deadline logic is testable without waiting.
    """

    def __init__(
        self,
        *,
        max_retries: int,
        backoff: Backoff,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_retries = max_retries
        self.backoff = backoff
        self.deadline = deadline
        self.clock = clock
        self.sleep = sleep

    def past_deadline(self) -> bool:
        return self.deadline is not None and self.clock() >= self.deadline

    def call(
        self,
        attempt_once: Callable[[], T],
        *,
        admit: Callable[[BaseException], str | None] = lambda exc: None,
        on_failure: Callable[[BaseException], None] = lambda exc: None,
    ) -> T:
        """``attempt_once()``, retried while its failures are transient.

        ``on_failure(exc)`` runs after every failed attempt (to count it); ``admit(exc)`` is
        asked just before each retry starts (after the wait) and reserves what it costs, or
        returns the reason not to retry (e.g. ``"max_lm_calls"``), raised as
        :class:`RetryStopped`. A permanent failure, or the last transient one, is re-raised
        unchanged.
        """
        attempt = 0
        while True:
            try:
                return attempt_once()
            except Exception as exc:
                on_failure(exc)
                if attempt >= self.max_retries or not is_transient(exc):
                    raise
                self.wait(self.backoff.delay(attempt, exc), exc)
                refused = admit(exc)
                if refused is not None:
                    raise RetryStopped(refused, exc) from exc
                attempt += 1

    def wait(self, seconds: float, failure: BaseException) -> None:
        """Sleep ``seconds`` before a retry; when the retry could not start before the deadline,
        raise :class:`RetryStopped` at once instead of waiting past (or up to) the deadline."""
        if self.deadline is not None and seconds >= self.deadline - self.clock():
            raise RetryStopped("max_seconds", failure) from failure
        self.sleep(seconds)
