"""Collecting the runs an evaluation submitted, as they finish (see docs/design.md,
"Parallelism"): a run's done-callback puts its future on a queue, so the collecting thread pays
O(1) per finished run (``cf.wait(FIRST_COMPLETED)`` would re-arm every pending future); runs
past the per-run timeout are recorded as errors; Ctrl-C lets the runs in flight finish."""

from __future__ import annotations

import concurrent.futures as cf
import queue
import time
from collections.abc import Callable

from ._call_budget import CallBudget
from ._eval_records import RunRecord, RunTicket
from ._types import Example

Pending = dict[cf.Future[RunRecord], tuple[int, Example, int, RunTicket]]
"""A submitted run -> (its job's index, its example, the calls reserved for it, its ticket:
when it started, the calls reserved for its retries)."""


def collect(
    pending: Pending,
    finished: queue.SimpleQueue[cf.Future[RunRecord]],
    *,
    budget: CallBudget,
    timeout: float | None,
    record: Callable[[int, Example, RunRecord, int], None],
    stop: Callable[[], None],
) -> None:
    """Wait for every run in ``pending``; hand each finished run's record, with the calls
    reserved for it, to ``record``. A cancelled or aborted run only gives its reservation back.

    Raises the first exception a run raised (a MetricError) or a KeyboardInterrupt, once the
    runs in flight have finished: runs not started yet are cancelled then (``stop`` is also
    called on the first Ctrl-C; a second one stops waiting, whatever failed before).
    """
    failure: BaseException | None = None
    interrupted = False
    not_done = set(pending)
    while not_done:
        wait_for = None
        if timeout is not None:
            oldest = min(pending[f][3].started for f in not_done)  # inf while all are queued
            wait_for = min(timeout, max(0.0, oldest + timeout - time.monotonic()))
        try:
            done = _next_finished(finished, wait_for)
        except KeyboardInterrupt as exc:  # Ctrl-C: finish what is in flight, keep it
            if interrupted:
                raise  # a second Ctrl-C: stop waiting for the runs in flight
            interrupted = True
            stop()
            for future in not_done:
                future.cancel()  # cancelled runs arrive in ``finished`` too
            # runs taken off the queue before the interrupt are done(): none is lost
            done = [f for f in not_done if f.done()]
            failure = failure or exc
        done = [f for f in done if f in not_done]
        not_done.difference_update(done)
        if not done and timeout is not None:
            now = time.monotonic()
            for future in [f for f in not_done if now - pending[f][3].started >= timeout]:
                j, example, reserved, ticket = pending[future]
                # from now on the run starts no retry; the calls reserved for it count as
                # made (its attempt in flight was sent and may be billed), keeping the cap
                retries = ticket.abandon()
                if retries is None:
                    continue  # it finished just now: its record is on the queue
                future.cancel()
                not_done.discard(future)
                reserved += retries
                timed_out = RunRecord(
                    example.id,
                    None,
                    error=f"TimeoutError: run exceeded {timeout}s",
                    lm_calls=reserved,
                )
                record(j, example, timed_out, reserved)
        for future in done:
            j, example, reserved, ticket = pending[future]
            reserved += ticket.retry_calls  # the calls reserved for the run's retries
            if future.cancelled():
                budget.settle_run(reserved, RunRecord(example.id, None, error="aborted"))
                continue
            try:
                result = future.result()
            except BaseException as exc:  # MetricError or interruption: finish in-flight first
                if failure is None:
                    for queued in not_done:
                        queued.cancel()  # the evaluation failed: start no run it would pay for
                failure = failure or exc
                paid = getattr(exc, "mipro_lm_calls", 0)  # a refused run's calls were billed
                paid = paid if isinstance(paid, int) and not isinstance(paid, bool) else 0
                budget.settle_run(
                    reserved, RunRecord(example.id, None, error="aborted", lm_calls=paid)
                )
                continue
            record(j, example, result, reserved)
    if failure is not None:
        raise failure


def _next_finished(
    finished: queue.SimpleQueue[cf.Future[RunRecord]], timeout: float | None
) -> list[cf.Future[RunRecord]]:
    """The runs finished so far: waits (at most ``timeout``) for one, then takes all that are
    there; an empty list when the wait timed out."""
    done: list[cf.Future[RunRecord]] = []
    try:
        done.append(finished.get(block=timeout != 0.0, timeout=timeout))
        while True:
            done.append(finished.get_nowait())
    except queue.Empty:
        return done
