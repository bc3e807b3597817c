"""The number of parallel trials a run chose is part of the run: the journal keeps it, so a
resume with another thread count tries the same configurations; a program that cannot be
copied says why it runs one trial at a time, and observers learn the number actually used."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mipro_core as mc
from mipro_core.plugins import (
    DISABLE_AUTOLOAD_ENV,
    RunInfo,
    hookimpl,
    register_plugin,
    reset_plugin_manager,
)
from tests.toy import ToyLM, toy_data, toy_metric, toy_program

TRAIN, VAL = toy_data(16), toy_data(12, offset=100)
OPTIONS: dict[str, Any] = dict(
    valset=VAL, seed=3, max_trials=8, minibatch_size=4, full_eval_every=3, progress=False
)


class StopAfter:
    """A progress display that presses Ctrl-C once ``n`` trials are done."""

    def __init__(self, n: int) -> None:
        self.n = n

    def stage(self, text: str) -> None:
        pass

    def trials(self, done: int, total: int, best: float | None, calls: int) -> None:
        if done >= self.n:
            raise KeyboardInterrupt

    def close(self) -> None:
        pass


def _log(result: mc.OptimizationResult) -> list[tuple[Any, ...]]:
    return [(t.kind, dict(t.params), t.score, t.example_ids) for t in result.trials]


@pytest.mark.parametrize(("first", "then"), [(4, 8), (8, 2)])
def test_a_resume_with_another_thread_count_tries_the_same_configurations(
    tmp_path: Path, first: int, then: int
) -> None:
    # minibatches of 4: 4 threads choose one trial at a time, 8 threads two at once
    whole = mc.optimize(
        toy_program(ToyLM()), TRAIN, toy_metric, num_threads=first, proposer_lm=ToyLM(), **OPTIONS
    )
    journal = tmp_path / "run.sqlite"
    stopped = mc.optimize(
        toy_program(ToyLM()),
        TRAIN,
        toy_metric,
        num_threads=first,
        proposer_lm=ToyLM(),
        journal=journal,
        **{**OPTIONS, "progress": StopAfter(2)},
    )
    assert stopped.stopped_reason == "interrupted"
    config = json.loads(
        sqlite3.connect(journal).execute("select value from meta where key='config'").fetchone()[0]
    )
    assert config["parallel_trials"] == first // 4
    resumed = mc.resume(
        journal, toy_program(ToyLM()), toy_metric, proposer_lm=ToyLM(), num_threads=then
    )
    assert _log(resumed) == _log(whole)
    assert resumed.state == whole.state


class NoClone:
    """A program wrapper without ``clone()`` (as a third-party adapter may be)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @property
    def modules(self) -> Any:
        return self.inner.modules

    def apply(self, state: Any) -> None:
        self.inner.apply(state)

    def run(self, inputs: Any) -> Any:
        return self.inner.run(inputs)

    def describe(self) -> str:
        return str(self.inner.describe())


class Recorder:
    def __init__(self) -> None:
        self.runs: list[RunInfo] = []

    @hookimpl
    def mipro_run_started(self, run: RunInfo) -> None:
        self.runs.append(run)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    reset_plugin_manager()
    recorder = Recorder()
    register_plugin(recorder, name="recorder")
    yield recorder
    reset_plugin_manager()


def test_a_program_without_clone_says_why_it_runs_one_trial_at_a_time(
    caplog: pytest.LogCaptureFixture, recorder: Recorder
) -> None:
    with caplog.at_level(logging.WARNING, logger="mipro_core"):
        result = mc.optimize(
            NoClone(toy_program(ToyLM())),
            TRAIN,
            toy_metric,
            num_threads=16,
            parallel_trials=4,
            proposer_lm=ToyLM(),
            **OPTIONS,
        )
    assert result.trials
    assert any(
        "parallel trials are off" in r.getMessage() and "no clone()" in r.getMessage()
        for r in caplog.records
    )
    assert recorder.runs[0].parallel_trials == 1


class RefusingClone(NoClone):
    def clone(self) -> Any:
        raise NotImplementedError("this program holds a database cursor")


def test_observers_learn_the_number_of_parallel_trials_actually_used(
    recorder: Recorder,
) -> None:
    mc.optimize(
        RefusingClone(toy_program(ToyLM())),
        TRAIN,
        toy_metric,
        num_threads=16,
        parallel_trials=4,
        proposer_lm=ToyLM(),
        **OPTIONS,
    )
    mc.optimize(
        toy_program(ToyLM()),
        TRAIN,
        toy_metric,
        num_threads=16,
        parallel_trials=4,
        proposer_lm=ToyLM(),
        **OPTIONS,
    )
    assert [run.parallel_trials for run in recorder.runs] == [1, 4]


def test_a_journal_from_before_the_record_resumes_with_its_own_threads_choice(
    tmp_path: Path,
) -> None:
    # journals written before the number was recorded hold None: the resume takes what the
    # run's own thread count chose (8 threads, minibatches of 4: two at once), not the new one
    whole = mc.optimize(
        toy_program(ToyLM()), TRAIN, toy_metric, num_threads=8, proposer_lm=ToyLM(), **OPTIONS
    )
    journal = tmp_path / "run.sqlite"
    mc.optimize(
        toy_program(ToyLM()),
        TRAIN,
        toy_metric,
        num_threads=8,
        proposer_lm=ToyLM(),
        journal=journal,
        **{**OPTIONS, "progress": StopAfter(2)},
    )
    with mc.Journal.open(journal) as store:
        config = store.config
        config["parallel_trials"] = None
        store.set_meta("config", config)
    resumed = mc.resume(
        journal, toy_program(ToyLM()), toy_metric, proposer_lm=ToyLM(), num_threads=2
    )
    assert _log(resumed) == _log(whole)


def test_the_journal_records_one_trial_at_a_time_when_clone_refuses(tmp_path: Path) -> None:
    journal = tmp_path / "run.sqlite"
    mc.optimize(
        RefusingClone(toy_program(ToyLM())),
        TRAIN,
        toy_metric,
        num_threads=16,
        parallel_trials=4,
        proposer_lm=ToyLM(),
        journal=journal,
        **OPTIONS,
    )
    with mc.Journal.open(journal) as store:
        assert store.config["parallel_trials"] == 1
