"""The grounding overlaps the baseline and bootstrap runs instead of queueing behind them."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

import mipro_core as mc
from tests.toy import ToyLM, toy_data, toy_metric, toy_program


class TimelineLM(ToyLM):
    """Records, for each proposer call, how many task calls had been made before it."""

    def __init__(self) -> None:
        super().__init__()
        self.proposer_calls: list[tuple[int, str]] = []

    def __call__(
        self, messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        if "question:" not in messages[-1]["content"]:
            self.proposer_calls.append((self.task_calls, threading.current_thread().name))
        else:
            time.sleep(0.005)
        return super().__call__(messages, n=n, temperature=temperature)


def test_the_grounding_starts_while_the_baseline_is_still_running() -> None:
    lm = TimelineLM()
    valset = toy_data(60, offset=100)
    mc.optimize(
        toy_program(lm),
        toy_data(40),
        toy_metric,
        valset=valset,
        num_threads=4,
        max_trials=2,
        num_candidates=3,
        seed=1,
    )
    first_task_calls, thread = lm.proposer_calls[0]
    # the first proposer call (a data-summary batch) comes right after the first baseline runs
    # succeed, on the grounding's own thread, not after the 60 baseline runs it used to wait for
    assert first_task_calls < len(valset) // 2
    assert thread.startswith("mipro-grounding")


class SlowSummaryLM(ToyLM):
    """The data summary's final call takes a while; records when each proposer call starts."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self._events_lock = threading.Lock()

    def __call__(
        self, messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        system = messages[0]["content"]
        if system.startswith("Summarize these observations"):
            self._log("summary started")
            time.sleep(0.5)
            self._log("summary done")
        elif system.startswith("You are studying one stage"):
            self._log("observe")
        elif "proposed_instruction" in system:
            self._log("propose")
        return super().__call__(messages, n=n, temperature=temperature)

    def _log(self, event: str) -> None:
        with self._events_lock:
            self.events.append(event)


def test_the_proposals_observe_the_demos_while_the_data_summary_is_being_written() -> None:
    lm = SlowSummaryLM()
    mc.optimize(
        toy_program(lm),
        toy_data(40),
        toy_metric,
        valset=toy_data(30, offset=100),
        num_threads=4,
        max_trials=2,
        num_candidates=3,
        seed=1,
    )
    events = lm.events
    observed = [i for i, e in enumerate(events) if e == "observe"]
    proposed = [i for i, e in enumerate(events) if e == "propose"]
    assert observed and proposed
    # the observations need only the descriptions and the demos: they do not wait for the
    # summary; the proposals, which show the summary, do
    assert max(observed) < events.index("summary done")
    assert min(proposed) > events.index("summary done")


class FailingDescriptionLM(ToyLM):
    """The program description fails for good; each data-summary batch takes 50 ms."""

    def __init__(self) -> None:
        super().__init__()
        self.data_batches = 0

    def __call__(
        self, messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        system = messages[0]["content"]
        if "program_description" in system and "module_description" not in system:
            raise mc.InvalidInputError("this proposer cannot describe programs")
        if "prior_observations" in messages[-1]["content"]:
            time.sleep(0.05)
            self.data_batches += 1
        return super().__call__(messages, n=n, temperature=temperature)


def test_a_failed_grounding_chain_stops_the_other_one() -> None:
    lm = FailingDescriptionLM()
    with pytest.raises(mc.MiproError):
        mc.optimize(
            toy_program(lm),
            toy_data(200),  # 20 batches of 10: the summary would read max_data_batches=10
            toy_metric,
            valset=toy_data(20, offset=1000),
            num_threads=4,
            max_trials=2,
            num_candidates=3,
            seed=1,
        )
    seen = lm.data_batches
    time.sleep(0.5)  # long enough for several more batches if the chain went on
    assert lm.data_batches <= seen + 1  # at most the batch in flight finishes
    assert lm.data_batches < 10
