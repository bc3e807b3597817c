"""A run near its per-run ``timeout``: one that finished just as the collector gave up on it is
kept (its record is in the journal: the trial must agree), and a provider refusal raised by a
run already abandoned still stops the optimization as a refusal."""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import mipro_core as mc
from mipro_core import _eval_collect
from mipro_core._eval_records import RunTicket
from mipro_core._journal import Journal
from mipro_core.native import NativeProgram, Stage
from tests.toy import ToyLM, toy_data, toy_metric


def test_a_finished_run_cannot_be_abandoned() -> None:
    ticket = RunTicket(1)
    ticket.retry_calls = 2
    assert ticket.abandon() == 2 and ticket.abandoned
    finished = RunTicket(1)
    finished.finished = True
    assert finished.abandon() is None and not finished.abandoned


def _program(lm: ToyLM, slow_word: str, seconds: float, then: Any = None) -> NativeProgram:
    def forward(stages: Any, inputs: dict[str, Any]) -> Any:
        if inputs["question"] == slow_word:
            time.sleep(seconds)
            if then is not None:
                then()
        return stages["s0"](question=inputs["question"])

    return NativeProgram([Stage("s0", "question -> answer", "Answer.", lm=lm)], forward)


def test_a_run_finishing_as_the_collector_gives_up_is_kept_not_counted_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = _eval_collect._next_finished

    def late(finished: queue.SimpleQueue[Any], timeout: float | None) -> list[Any]:
        done = real(finished, timeout)
        if not done and timeout is not None:
            time.sleep(0.3)  # the collector is descheduled right after its wait timed out
        return done

    monkeypatch.setattr(_eval_collect, "_next_finished", late)
    lm = ToyLM()
    journal = tmp_path / "run.sqlite"
    result = mc.optimize(
        _program(lm, "word3", 1.1),  # ends 0.1 s past the timeout, before the collector looks
        toy_data(8),
        toy_metric,
        valset=toy_data(8),
        proposer_lm=lm,
        max_trials=1,
        timeout=1.0,
        num_threads=8,
        journal=journal,
        progress=False,
    )
    baseline = result.trials[0]
    with Journal.open(journal) as store:
        runs = store.read(kinds=("run",)).records
    kept = [key for (_, key) in runs if key.startswith(f"state-{baseline_key(runs)}")]
    assert baseline.errors == 0 and len(kept) == len(baseline.example_ids) == 8


def baseline_key(runs: Any) -> str:
    """The configuration key the most runs were recorded under (the baseline's)."""
    keys = [key.split(":", 1)[0].removeprefix("state-") for (_, key) in runs]
    return max(set(keys), key=keys.count)


class AuthenticationError(Exception):  # shaped like openai's 401
    status_code = 401


AuthenticationError.__module__ = "openai"


def test_a_refusal_from_a_run_abandoned_at_its_timeout_stops_the_run_as_a_refusal() -> None:
    lm = ToyLM()
    revoked = threading.Event()

    def refuse() -> None:
        revoked.set()
        raise AuthenticationError("Incorrect API key provided")

    with pytest.raises(mc.LMError, match="refused"):
        mc.optimize(
            _program(lm, "word3", 1.5, then=refuse),  # a slow call past the timeout, refused
            toy_data(10),
            toy_metric,
            valset=toy_data(8),
            proposer_lm=lm,
            max_trials=6,
            timeout=1.0,
            num_threads=4,
            progress=False,
            seed=1,
        )
    assert revoked.is_set()
