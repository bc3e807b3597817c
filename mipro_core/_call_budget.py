"""The LM calls and tokens a run has spent, and the reservations that keep it under ``max_lm_calls``."""

from __future__ import annotations

import math
import threading

from ._eval_records import RunRecord


class CallBudget:
    """Thread-safe accounting of LM calls and tokens with an optional hard cap.

    Before a program run starts, the evaluator reserves the calls it expects the run to make; a
    reservation that would cross the cap is refused, so the cap is exceeded at most by the
    difference between estimated and actual calls of runs already in flight.
    """

    def __init__(self, max_lm_calls: int | None = None) -> None:
        self.max_lm_calls = max_lm_calls
        self._lock = threading.Lock()
        self.task_calls = 0
        self.proposer_calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._reserved = 0
        self._runs = 0
        self._run_calls = 0
        self._counted: set[str] = set()

    @property
    def used(self) -> int:
        return self.task_calls + self.proposer_calls

    def per_run_estimate(self, default: int) -> int:
        with self._lock:
            if self._runs == 0:
                return max(1, default)
            return max(1, math.ceil(self._run_calls / self._runs))

    def needs_pilot(self) -> bool:
        """Whether a cap is set and no run has finished yet (so a run's cost is unknown)."""
        with self._lock:
            return self.max_lm_calls is not None and self._runs == 0

    def reserve(self, calls: int) -> bool:
        with self._lock:
            if self.max_lm_calls is not None and (
                self.used + self._reserved + calls > self.max_lm_calls
            ):
                return False
            self._reserved += calls
            return True

    def remaining(self) -> int | None:
        with self._lock:
            if self.max_lm_calls is None:
                return None
            return max(0, self.max_lm_calls - self.used - self._reserved)

    def settle_run(self, reserved: int, record: RunRecord) -> None:
        with self._lock:
            self._reserved -= reserved
            self.task_calls += record.lm_calls
            self.prompt_tokens += record.prompt_tokens
            self.completion_tokens += record.completion_tokens
            if record.error is None:  # its failed attempts are no part of a run's cost
                self._runs += 1
                self._run_calls += record.lm_calls - record.retried_calls

    def count_replayed(
        self,
        key: str,
        calls: int,
        prompt_tokens: int,
        completion_tokens: int,
        *,
        succeeded: bool = False,
        retried: int = 0,
    ) -> None:
        """Count, once per run, a result served from a journal written by an earlier process.

        Its calls were paid before the resume; counting them keeps ``max_lm_calls`` and the
        reported spend about the whole run, and a replayed run that ``succeeded`` informs
        :meth:`per_run_estimate` as it did when it ran, without the ``retried`` calls of its
        failed attempts (so a resumed run reserves, and decides what it can afford, like the
        original). Results produced in this process are
        registered with zero calls, so a cache hit on them costs nothing.
        """
        with self._lock:
            if key in self._counted:
                return
            self._counted.add(key)
            if key.startswith(("run:", "bootstrap:")):
                self.task_calls += calls
                if succeeded and calls:
                    self._runs += 1
                    self._run_calls += calls - retried
            else:
                self.proposer_calls += calls
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens

    def settle_proposer_call(
        self, reserved: int, prompt_tokens: int = 0, completion_tokens: int = 0, *, calls: int = 1
    ) -> None:
        with self._lock:
            self._reserved -= reserved
            self.proposer_calls += calls
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
