"""The warning that program runs are CPU-bound in this process (the interpreter lock, not the
provider, limits how many make progress: docs/scaling.md)."""

from __future__ import annotations

import logging
import time

import pytest

import mipro_core as mc
from mipro_core._cpu_watch import BUSY, MIN_SECONDS, CpuWatch
from mipro_core.testing import SimulatedLM, load_task


class Clocks:
    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0


def evaluation(watch: CpuWatch, clocks: Clocks, wall: float, cpu: float) -> None:
    mark = watch.start()
    clocks.wall += wall
    watch.add(cpu)
    watch.finish(mark)


def test_warns_once_when_runs_keep_the_cpu_busy(caplog: pytest.LogCaptureFixture) -> None:
    clocks = Clocks()
    watch = CpuWatch(64, wall=lambda: clocks.wall, cpu=lambda: clocks.cpu)
    with caplog.at_level(logging.WARNING, logger="mipro_core.evaluate"):
        evaluation(watch, clocks, wall=1.0, cpu=0.5)  # half busy: fine
        assert not caplog.records
        evaluation(watch, clocks, wall=1.0, cpu=0.9)
        evaluation(watch, clocks, wall=2.0, cpu=1.9)
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "90%" in message and "num_threads=64" in message and "RayBackend" in message
    assert watch.busiest == pytest.approx(0.95)


def test_short_evaluations_are_not_judged(caplog: pytest.LogCaptureFixture) -> None:
    clocks = Clocks()
    watch = CpuWatch(8, wall=lambda: clocks.wall, cpu=lambda: clocks.cpu)
    with caplog.at_level(logging.WARNING, logger="mipro_core.evaluate"):
        evaluation(watch, clocks, wall=MIN_SECONDS / 2, cpu=MIN_SECONDS / 2)
    assert not caplog.records
    assert watch.busiest == 0.0


def _optimize(num_threads: int) -> None:
    task = load_task("rule_qa")
    program = task.make_program(SimulatedLM(seed=0, latency=0.03))
    optimizer = mc.MIPRO(
        budget=mc.Budget(max_trials=2, num_candidates=2),
        seed=0,
        num_threads=num_threads,
        progress=False,
    )
    optimizer.optimize(program, task.trainset[:40], task.metric, valset=task.valset[:40])


def test_a_program_waiting_on_its_model_is_not_cpu_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="mipro_core.evaluate"):
        _optimize(4)
    assert not [r for r in caplog.records if "CPU busy" in r.getMessage()]


def test_runs_measured_on_their_threads_are_judged_per_evaluation(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every run "spends" its wall time on the CPU: four threads at once are four times busy
    monkeypatch.setattr(CpuWatch, "clock", lambda self: time.monotonic())
    with caplog.at_level(logging.WARNING, logger="mipro_core.evaluate"):
        _optimize(4)
    busy = [r.getMessage() for r in caplog.records if "CPU busy" in r.getMessage()]
    assert len(busy) == 1
    share = int(busy[0].split("busy ")[1].split("%")[0])
    assert share >= 100 * BUSY and "num_threads=4" in busy[0]
