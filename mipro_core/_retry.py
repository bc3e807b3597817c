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
        """Seconds to wait before retry number ``attempt`` (0-based) after ``exc``: its
        ``Retry-After`` hint if any, else ``base * 2**attempt`` jittered to 50-100 %; at most
        ``maximum`` either way."""
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
    """The retry loop of every LM-calling step, on :mod:`tenacity`: transient failures
    (:func:`is_transient`) are retried up to ``max_retries`` times with :class:`Backoff`; no
    attempt starts after ``deadline`` (a ``clock()`` value) and a wait is cut at the deadline.

    Args:
        max_retries: retries after the first attempt (0: never retry).
        backoff: how long to wait before each retry (honours ``Retry-After``).
        deadline: a ``clock()`` value no retry may start at or after; None: no deadline.
        clock: the time source of ``deadline`` (injectable for tests).
        sleep: how to wait (injectable for tests); by default a wait that :meth:`wake` ends.
    """

    def __init__(
        self,
        *,
        max_retries: int,
        backoff: Backoff,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.max_retries = max_retries
        self.backoff = backoff
        self.deadline = deadline
        self.clock = clock
        self._woken = threading.Event()
        self.sleep = sleep if sleep is not None else self._wait

    def _wait(self, seconds: float) -> None:
        self._woken.wait(seconds)

    def wake(self) -> None:
        """End every backoff wait now and from now on (the run stops: Ctrl-C, a refusal);
        ``admit`` then decides that no retry starts."""
        self._woken.set()

    def past_deadline(self) -> bool:
        """Whether the deadline (if any) has passed."""
        return self.deadline is not None and self.clock() >= self.deadline

    def call(
        self,
        attempt_once: Callable[[], T],
        *,
        admit: Callable[[BaseException], str | None] = lambda exc: None,
        on_failure: Callable[[BaseException], None] = lambda exc: None,
    ) -> T:
        """``attempt_once()``, retried while its failures are transient.

        Args:
            attempt_once: one attempt of the call.
            admit: asked just before each retry starts (after the wait); reserves what the
                retry costs, or returns the reason not to retry (e.g. ``"max_lm_calls"``).
            on_failure: runs after every failed attempt (e.g. to count it).

        Returns:
            What the first successful attempt returned.

        Raises:
            RetryStopped: a retry was due but refused by ``admit``, or could not start before
                the deadline (``reason="max_seconds"``); raised ``from`` the failure.
            Exception: a permanent failure, or the last transient one, re-raised unchanged.
        """
        import tenacity  # ~0.1 s to import: on the first call, not with mipro_core

        failures: list[BaseException] = []

        def worth_retrying(exc: BaseException) -> bool:
            if not isinstance(exc, Exception):
                return False  # KeyboardInterrupt, SystemExit: not a failure, never retried
            failures.append(exc)
            on_failure(exc)
            return is_transient(exc)

        waits: dict[int, float] = {}  # attempt number -> the wait before the next attempt

        def delay(state: tenacity.RetryCallState) -> float:
            # asked by both stop and wait (their order differs between tenacity versions)
            number = state.attempt_number
            if number not in waits:
                waits[number] = self.backoff.delay(number - 1, failures[-1])
            return waits[number]

        def stop(state: tenacity.RetryCallState) -> bool:
            if state.attempt_number > self.max_retries:
                return True  # out of retries
            # the retry could not start before the deadline: stop now, never wait past it
            return self.deadline is not None and delay(state) >= self.deadline - self.clock()

        def given_up(state: tenacity.RetryCallState) -> T:
            failure = failures[-1]
            if state.attempt_number > self.max_retries:
                raise failure  # out of retries: the last failure itself
            raise RetryStopped("max_seconds", failure) from failure

        def before_retry(state: tenacity.RetryCallState) -> None:
            if state.attempt_number == 1:
                return  # the first attempt is no retry
            refused = admit(failures[-1])
            if refused is not None:
                raise RetryStopped(refused, failures[-1]) from failures[-1]

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(worth_retrying),
            stop=stop,
            wait=delay,
            sleep=self.sleep,
            before=before_retry,
            retry_error_callback=given_up,  # stopped: re-raise, or say why no retry ran
        )
        return retrying(attempt_once)
