"""Ctrl-C while the evaluator collects runs: what finished is kept, a second Ctrl-C gets out."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from mipro_core import _eval_collect, current_state
from mipro_core._evaluate import CallBudget, EvalJob, Evaluator
from mipro_core._memo import InMemoryMemo
from tests.toy import ToyLM, toy_data, toy_metric, toy_program


class SlowLM(ToyLM):
    """Answers the first ``fast`` task calls at once and every later one after ``delay``."""

    def __init__(self, fast: int, delay: float) -> None:
        super().__init__()
        self.fast, self.delay = fast, delay
        self._count = 0
        self._count_lock = threading.Lock()

    def __call__(
        self, messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        with self._count_lock:
            self._count += 1
            slow = self._count > self.fast
        if slow:
            time.sleep(self.delay)
        return super().__call__(messages, n=n, temperature=temperature)


def run_with_interrupts(
    monkeypatch: pytest.MonkeyPatch, interrupts: int, delay: float = 0.5
) -> tuple[Any, Any, float]:
    """Evaluate 8 examples (4 answered at once, 4 after ``delay``) on a helper thread; the
    first ``interrupts`` collections raise KeyboardInterrupt right after taking finished runs
    off the queue, as a Ctrl-C landing there would. Returns (outcome or exception, budget,
    seconds until ``evaluate`` returned)."""
    real = _eval_collect._next_finished
    calls = {"n": 0}

    def interrupted(finished: Any, timeout: float | None) -> list[Any]:
        calls["n"] += 1
        if calls["n"] == 1 and interrupts >= 1:
            time.sleep(0.2)  # let the fast runs finish first
            real(finished, timeout)  # taken off the queue, then lost to the interrupt
            raise KeyboardInterrupt
        if calls["n"] <= interrupts:
            time.sleep(0.2)
            raise KeyboardInterrupt  # a Ctrl-C while waiting for the runs in flight
        return real(finished, timeout)

    monkeypatch.setattr(_eval_collect, "_next_finished", interrupted)
    program = toy_program(SlowLM(fast=4, delay=delay))
    budget = CallBudget()
    box: dict[str, Any] = {}
    with cf.ThreadPoolExecutor(4) as executor:
        evaluator = Evaluator([program], toy_metric, executor, InMemoryMemo(), budget, max_errors=8)
        job = EvalJob("k", current_state(program), tuple(toy_data(8)))

        def target() -> None:
            started = time.monotonic()
            try:
                box["result"] = evaluator.evaluate([job])
            except BaseException as exc:
                box["result"] = exc
            box["seconds"] = time.monotonic() - started

        worker = threading.Thread(target=target, daemon=True)
        worker.start()
        worker.join(timeout=20)
        assert not worker.is_alive(), "the evaluator hung after the interrupt"
    return box["result"], budget, box["seconds"]


def test_runs_finished_before_a_ctrl_c_are_kept_and_the_evaluator_does_not_hang(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result, budget, _ = run_with_interrupts(monkeypatch, interrupts=1)
    assert isinstance(result, KeyboardInterrupt)
    # the 4 fast runs were taken off the queue when the interrupt landed, the 4 slow ones
    # were in flight: all 8 are settled and counted, none is lost
    assert budget.task_calls == 8


def test_a_second_ctrl_c_stops_waiting_for_the_runs_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result, _, seconds = run_with_interrupts(monkeypatch, interrupts=2, delay=3.0)
    assert isinstance(result, KeyboardInterrupt)
    assert seconds < 2.0  # it did not wait for the runs that take 3 s
