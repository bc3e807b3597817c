"""An empty completion in a program run: retried; empty on every retry while the model answers
other prompts, a failed run of its configuration (scored 0 as malformed), not an error toward
``max_errors``; learned, retried once (see mipro_core._empty_reply)."""

from __future__ import annotations

import threading
import warnings
from collections import Counter
from typing import Any

import pytest

import mipro_core as mc
from mipro_core._empty_reply import LEARN_AFTER, EmptyAgain, EmptyReplies, is_empty_completion
from mipro_core._errors import EmptyCompletionError, ParseError
from mipro_core._transient import is_transient
from tests.toy import ToyLM, toy_data, toy_metric, toy_program

SEARCH = mc.SearchConfig(minibatch_size=6, max_errors=1, retry_base_delay=0.0, retry_max_delay=0.0)


def test_an_empty_completion_is_recognised_through_the_exceptions_it_was_raised_from() -> None:
    empty = EmptyCompletionError("empty")
    assert is_empty_completion(empty) and is_transient(empty)  # a glitch: worth one retry
    try:
        raise RuntimeError("the framework wrapped it") from empty
    except RuntimeError as wrapped:
        assert is_empty_completion(wrapped)
    assert not is_empty_completion(ParseError("no field")) and not is_empty_completion(OSError())
    again = EmptyAgain(empty, lm_calls=1)
    assert not is_transient(again) and again.mipro_lm_calls == 1  # given up: never retried


class EmptyOn(ToyLM):
    """Answers ``""`` to the task questions ending in ``endings``: always, or only the first
    time each prompt is sent (``glitch=True``). Counts the calls per prompt."""

    def __init__(self, endings: tuple[str, ...], *, glitch: bool = False) -> None:
        super().__init__()
        self.endings, self.glitch = endings, glitch
        self.sent: Counter[str] = Counter()
        self._seen = threading.Lock()

    def __call__(self, messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
        prompt = str(messages)
        if messages[-1]["content"].endswith(self.endings):
            with self._seen:
                self.sent[prompt] += 1
                first = self.sent[prompt] == 1
            if first or not self.glitch:
                return [""]
        return super().__call__(messages, n=n, temperature=temperature)


def optimize(lm: EmptyOn) -> tuple[mc.OptimizationResult, list[warnings.WarningMessage]]:
    optimizer = mc.MIPRO(budget=mc.Budget(max_trials=4), search=SEARCH, seed=1, num_threads=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = optimizer.optimize(
            toy_program(lm), toy_data(12), toy_metric, valset=toy_data(12, 100), proposer_lm=ToyLM()
        )
    return result, [w for w in caught if "empty completion" in str(w.message)]


def test_a_prompt_always_answered_empty_fails_its_runs_and_the_run_learns_to_retry_less() -> None:
    lm = EmptyOn(("1", "4", "7"))  # more than max_errors=1 runs answer nothing, every time
    result, warned = optimize(lm)
    assert result.errors == 0 and result.malformed > LEARN_AFTER
    # the first such runs use every retry (max_retries=6: 7 sends), then the run has learned
    # that the model answers nothing to them and retries once (2 sends); a run in flight on
    # the other thread when it learned stops at its next empty reply
    sends = Counter(lm.sent.values())
    assert LEARN_AFTER <= sends[7] <= LEARN_AFTER + 1 and sends[2] > 0
    assert set(sends) <= {2, 3, 4, 5, 6, 7}
    assert sum(n for sent, n in sends.items() if sent not in (2, 7)) <= 1
    assert len(warned) == 1 and f"{result.malformed} program run(s)" in str(warned[0].message)


def test_a_provider_that_answers_nothing_at_all_still_stops_the_run() -> None:
    # no run ever answered: the endpoint is broken, not the model's answer to some prompts
    lm = EmptyOn(tuple("0123456789"))
    with pytest.raises(mc.ErrorBudgetExceededError):
        optimize(lm)
    # runs used every retry (a glitch is still possible) before they counted as errors; the
    # run in flight on the other thread when the error budget was spent stopped early
    assert Counter(lm.sent.values())[7] >= 2  # max_errors=1: the second error stops the run


def test_empty_replies_learned_only_from_runs_empty_on_every_retry() -> None:
    empty = EmptyReplies()
    assert empty.retry_limit() is None and not empty.settle(7)  # nothing answered: an error
    empty.answered()
    assert not empty.settle(1)  # not retried (max_retries=0): an error, it may be a glitch
    assert [empty.settle(7) for _ in range(LEARN_AFTER)] == [True] * LEARN_AFTER
    assert empty.retry_limit() == 1 and (empty.failed_runs, empty.errors) == (LEARN_AFTER, 2)


def test_an_empty_reply_answered_when_retried_is_an_ordinary_run() -> None:
    lm = EmptyOn(("1", "4", "7"), glitch=True)
    result, warned = optimize(lm)
    clean, _ = optimize(EmptyOn(()))
    assert result.errors == 0 and result.malformed == 0 and not warned
    assert lm.sent and set(lm.sent.values()) == {2}
    assert result.state == clean.state and result.best_score == clean.best_score
