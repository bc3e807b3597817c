"""How the evaluator's collector reacts to a run that failed the evaluation (a MetricError):
runs not started yet are cancelled (no money spent on a failed evaluation), the runs in
flight finish, and Ctrl-C still gets out at the second press."""

from __future__ import annotations

import concurrent.futures as cf
import queue
from typing import Any

import pytest

from mipro_core import MetricError, _eval_collect
from mipro_core._call_budget import CallBudget
from mipro_core._eval_records import RunRecord, RunTicket
from mipro_core._types import Example


def _pending(n: int) -> tuple[_eval_collect.Pending, queue.SimpleQueue[Any], list[Any]]:
    finished: queue.SimpleQueue[Any] = queue.SimpleQueue()
    futures: list[cf.Future[RunRecord]] = []
    pending: _eval_collect.Pending = {}
    for i in range(n):
        future: cf.Future[RunRecord] = cf.Future()
        future.add_done_callback(finished.put)
        futures.append(future)
        ticket = RunTicket(1)
        ticket.started = 0.0
        pending[future] = (0, Example({"q": str(i)}, {"a": str(i)}, id=f"e{i}"), 1, ticket)
    return pending, finished, futures


def test_a_metric_error_cancels_the_runs_not_started_and_is_raised_after_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pending, finished, futures = _pending(5)
    futures[0].set_running_or_notify_cancel()
    futures[1].set_running_or_notify_cancel()  # in flight
    recorded: list[str] = []

    real = _eval_collect._next_finished
    calls = {"n": 0}

    def next_finished(q: Any, timeout: float | None) -> list[Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            futures[0].set_exception(MetricError("the metric returned 'yes'"))
        elif calls["n"] == 2:
            futures[1].set_result(RunRecord("e1", 1.0))
        return real(q, timeout)

    monkeypatch.setattr(_eval_collect, "_next_finished", next_finished)
    with pytest.raises(MetricError, match="returned 'yes'"):
        _eval_collect.collect(
            pending,
            finished,
            budget=CallBudget(None),
            timeout=None,
            record=lambda j, ex, run, reserved: recorded.append(ex.id),
            stop=lambda: None,
        )
    assert all(f.cancelled() for f in futures[2:])  # never started: nothing spent on them
    assert recorded == ["e1"]  # the run in flight finished and was kept


def test_a_second_ctrl_c_after_a_metric_error_stops_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pending, finished, futures = _pending(3)
    for f in futures:
        f.set_running_or_notify_cancel()  # all in flight: none can be cancelled
    futures[0].set_exception(MetricError("the metric returned None"))
    real = _eval_collect._next_finished
    calls = {"n": 0}

    def next_finished(q: Any, timeout: float | None) -> list[Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            return real(q, timeout)  # the failed run
        if calls["n"] > 5:  # the collector ignored the presses: let its runs end
            for f in futures[1:]:
                if not f.done():
                    f.set_result(RunRecord("e", 0.0))
            return real(q, timeout)
        raise KeyboardInterrupt  # Ctrl-C, twice, while the other two are in flight

    monkeypatch.setattr(_eval_collect, "_next_finished", next_finished)
    stops: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        _eval_collect.collect(
            pending,
            finished,
            budget=CallBudget(None),
            timeout=None,
            record=lambda *a: None,
            stop=lambda: stops.append(1),
        )
    assert calls["n"] == 3 and stops == [1]
