"""An empty completion in a program run: retried once, then a failed run of its configuration
(scored 0 as malformed), never an error toward ``max_errors`` (see mipro_core._empty_reply)."""

from __future__ import annotations

import threading
import warnings
from collections import Counter
from typing import Any

import mipro_core as mc
from mipro_core._empty_reply import EmptyAgain, is_empty_completion
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


def test_a_prompt_always_answered_empty_fails_its_runs_once_retried_and_the_run_goes_on() -> None:
    lm = EmptyOn(("1", "4", "7"))  # more than max_errors=1 runs answer nothing, every time
    result, warned = optimize(lm)
    assert result.errors == 0 and result.malformed > 1
    assert set(lm.sent.values()) == {2}  # every such prompt was sent twice: retried once
    assert len(warned) == 1 and f"{result.malformed} program run(s)" in str(warned[0].message)


def test_an_empty_reply_answered_when_retried_is_an_ordinary_run() -> None:
    lm = EmptyOn(("1", "4", "7"), glitch=True)
    result, warned = optimize(lm)
    clean, _ = optimize(EmptyOn(()))
    assert result.errors == 0 and result.malformed == 0 and not warned
    assert lm.sent and set(lm.sent.values()) == {2}
    assert result.state == clean.state and result.best_score == clean.best_score
