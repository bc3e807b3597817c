"""The time left in the progress line: the soonest of the trials' end, the call cap's and the
deadline's (a real model's run usually stops at its call cap long before its trial count)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

import mipro_core as mc
from mipro_core._progress import ConsoleProgress, LogProgress, time_left
from tests.toy import ToyLM, toy_data, toy_metric, toy_program


def test_the_call_cap_binds_before_the_trials() -> None:
    # 2 trials in 100 s (97 left: ~80 min at that pace), but 2 calls/s with 300 calls left
    first = (0.0, 1, 100)
    assert time_left(100.0, first, 3, 100, 300) == pytest.approx(4850.0)
    assert time_left(100.0, first, 3, 100, 300, max_lm_calls=600) == pytest.approx(150.0)
    assert time_left(100.0, first, 3, 100, 700, max_lm_calls=600) == 0.0  # past it (in flight)


def test_the_deadline_binds_and_the_trials_when_they_are_sooner() -> None:
    first = (0.0, 1, 100)
    assert time_left(100.0, first, 3, 100, 300, deadline=130.0) == pytest.approx(30.0)
    assert time_left(100.0, first, 3, 4, 300, max_lm_calls=600, deadline=200.0) == 50.0
    assert time_left(5.0, None, 0, 10, 0, deadline=65.0) == 60.0  # before any trial event
    assert time_left(5.0, None, 0, 10, 0, max_lm_calls=600) is None  # no pace yet
    assert time_left(100.0, first, 10, 10, 300, deadline=130.0) is None  # all done


def clock(*ticks: float) -> Iterator[float]:
    return iter(ticks)


def test_the_bar_shows_the_call_caps_time_left() -> None:
    ticks = clock(0.0, 10.0, 110.0)  # started, then two trial events
    stream = io.StringIO()
    progress = ConsoleProgress(stream, live=False, clock=lambda: next(ticks))
    progress.limits(max_lm_calls=600, max_seconds=None)
    progress.trials(1, 100, 0.5, 100)
    progress.trials(3, 100, 0.5, 300)  # 2 calls/s, 300 calls left: 150 s, not 80 minutes
    assert stream.getvalue().splitlines()[-1].endswith("300  110s  2.7 calls/s  ~2m30s left")


def test_log_lines_carry_the_rate_and_the_time_left(caplog: pytest.LogCaptureFixture) -> None:
    ticks = clock(0.0, 0.0, 10.0, 110.0)
    progress = LogProgress(clock=lambda: next(ticks))
    progress.limits(max_lm_calls=None, max_seconds=200.0)  # the deadline: 200 s from now
    with caplog.at_level(logging.INFO, logger="mipro_core"):
        progress.trials(1, 100, None, 100)
        progress.trials(3, 100, 0.5, 300)
    assert caplog.messages[-1] == (
        "trial 3/100  best 0.500  LM calls 300  110s  2.7 calls/s  ~1m30s left"
    )


def test_optimize_tells_its_reporter_the_call_cap_and_the_time_limit() -> None:
    told: list[tuple[int | None, float | None]] = []

    class Recording(ConsoleProgress):
        def limits(self, *, max_lm_calls: int | None, max_seconds: float | None) -> None:
            told.append((max_lm_calls, max_seconds))
            super().limits(max_lm_calls=max_lm_calls, max_seconds=max_seconds)

    stream = io.StringIO()
    mc.optimize(
        toy_program(ToyLM()), toy_data(12), toy_metric, valset=toy_data(8, 50), max_trials=4,
        max_lm_calls=400, max_seconds=600.0, progress=Recording(stream),
    )  # fmt: skip
    assert told == [(400, 600.0)]
    assert "left" in stream.getvalue()
