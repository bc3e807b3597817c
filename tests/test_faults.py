"""LM faults: transient errors are retried, persistent ones hit max_errors, junk is 'malformed'."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import mipro_core as mc
from mipro_core.native import NativeProgram, Stage
from mipro_core.testing import FaultyLM
from tests.toy import ToyLM, toy_data, toy_metric, toy_program

TRAIN, VAL = toy_data(40), toy_data(60, offset=100)
OPTIONS: dict[str, Any] = dict(
    valset=VAL, num_threads=4, minibatch_size=15, max_trials=8, num_candidates=3, seed=1
)


def log(result: mc.OptimizationResult) -> list[tuple[Any, ...]]:
    return [t.log_entry() for t in result.trials]


def test_twenty_percent_transient_faults_give_the_clean_result() -> None:
    clean = mc.optimize(toy_program(ToyLM()), TRAIN, toy_metric, **OPTIONS)
    faulty_lm = FaultyLM(ToyLM(), 0.2, seed=3)
    faulty = mc.optimize(toy_program(faulty_lm), TRAIN, toy_metric, max_errors=0, **OPTIONS)
    assert faulty_lm.faults["error"] > 20
    assert log(faulty) == log(clean)
    assert faulty.state == clean.state
    # every retry is a paid call, so the faulty run spent more
    assert faulty.lm_calls > clean.lm_calls


def test_hangs_are_retried_like_transient_errors() -> None:
    clean = mc.optimize(toy_program(ToyLM()), TRAIN, toy_metric, **OPTIONS)
    lm = FaultyLM(ToyLM(), 0.1, kinds=("hang",), hang_seconds=0.01, seed=4)
    faulty = mc.optimize(toy_program(lm), TRAIN, toy_metric, **OPTIONS)
    assert lm.faults["hang"] > 0
    assert log(faulty) == log(clean)


def test_all_calls_failing_stops_after_max_errors_with_the_journal_intact(tmp_path: Path) -> None:
    journal = tmp_path / "run.sqlite"
    lm = FaultyLM(ToyLM(), 1.0, seed=0)
    with pytest.raises(mc.ErrorBudgetExceededError, match="max_errors=5"):
        mc.optimize(toy_program(lm), TRAIN, toy_metric, journal=journal, max_errors=5, **OPTIONS)
    with mc.Journal.open(journal) as store:
        assert store.config["seed"] == 1
    # a persistent failure costs at most (retries + 1) calls per failed run, and stops early
    assert lm.calls <= (5 + 1 + 4) * 7


def test_junk_answers_are_scored_failures_counted_apart_from_errors() -> None:
    lm = FaultyLM(ToyLM(), 0.3, kinds=("junk",), seed=2)
    program = NativeProgram(
        [Stage("s0", "question -> answer, confidence", "Answer.", lm=lm)],
        lambda st, inputs: st["s0"](question=inputs["question"]),
    )
    result = mc.optimize(program, TRAIN, toy_metric, **{**OPTIONS, "max_trials": 3})
    assert result.malformed > 0
    assert result.errors == 0
    assert all(t.score is not None for t in result.trials)


def test_retries_count_toward_max_lm_calls() -> None:
    lm = FaultyLM(ToyLM(), 0.3, seed=5)
    cap = 400
    result = mc.optimize(
        toy_program(lm), TRAIN, toy_metric, max_lm_calls=cap, **{**OPTIONS, "max_trials": 40}
    )
    assert lm.calls <= cap + OPTIONS["num_threads"]
    assert result.lm_calls == lm.calls


class SlowLM(ToyLM):
    def __init__(self, slow_word: str, seconds: float) -> None:
        super().__init__()
        self.slow_word = slow_word
        self.seconds = seconds
        self.release = threading.Event()

    def __call__(
        self, messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        if messages[-1]["content"].endswith(f"question: {self.slow_word}"):
            self.release.wait(self.seconds)
            raise RuntimeError("too late")
        return super().__call__(messages, n=n, temperature=temperature)


def test_per_run_timeout_records_an_error_and_the_run_goes_on() -> None:
    lm = SlowLM("word101", seconds=5.0)
    started = time.monotonic()
    result = mc.optimize(toy_program(lm), TRAIN, toy_metric, timeout=0.3, max_errors=50, **OPTIONS)
    lm.release.set()
    assert result.errors >= 1
    assert time.monotonic() - started < 60
    baseline = result.trials[0]
    assert baseline.errors == 1 and baseline.score is not None


def test_proposer_faults_are_retried() -> None:
    task_lm = ToyLM()
    proposer = FaultyLM(ToyLM(), 0.3, seed=9)
    result = mc.optimize(toy_program(task_lm), TRAIN, toy_metric, proposer_lm=proposer, **OPTIONS)
    assert proposer.faults["error"] > 0
    assert result.proposer_lm_calls == proposer.calls
