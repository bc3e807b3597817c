"""Issue 21: the steps a new user took on first use, each reproduced as a test."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest

import mipro_core as mc
from mipro_core import Example
from mipro_core._progress import (
    ConsoleProgress,
    LogProgress,
    default_progress,
    duration,
    trial_line,
)
from tests.toy import ToyLM, toy_data, toy_metric, toy_program

TRAIN, VAL = toy_data(40), toy_data(30, offset=100)


def test_example_inputs_invoke_a_chain_that_starts_with_assign() -> None:
    """docs/langchain.md: ``chain.invoke(example.inputs)`` on a chain starting with
    ``RunnablePassthrough.assign`` (which insists on a real dict)."""
    pytest.importorskip("langchain_core", reason="the LangChain step needs langchain-core")
    from langchain_core.runnables import RunnableLambda, RunnablePassthrough

    chain = RunnablePassthrough.assign(rewritten=lambda x: x["question"].upper()) | RunnableLambda(
        lambda x: x["rewritten"]
    )
    example = Example(inputs={"question": "why?"}, outputs={"answer": "because"})
    assert chain.invoke(example.inputs) == "WHY?"


def test_example_inputs_is_a_fresh_dict_that_cannot_change_the_example() -> None:
    example = Example(inputs={"question": "q"}, outputs={"answer": "a"})
    view = example.inputs
    assert type(view) is dict and type(example.outputs) is dict
    view["question"] = "changed"
    example.outputs["answer"] = "changed"
    assert example.inputs == {"question": "q"} and example.outputs == {"answer": "a"}
    assert example == Example(inputs={"question": "q"}, outputs={"answer": "a"})
    assert len({example, Example(inputs={"question": "q"}, outputs={"answer": "a"})}) == 1


# --- 1. a dry run shows its estimate, and its summary says so -------------------------------


def test_a_dry_run_prints_the_estimate_on_stderr_and_its_summary_says_dry_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lm = ToyLM()
    result = mc.optimize(toy_program(lm), TRAIN, toy_metric, valset=VAL, dry_run=True)
    err = capsys.readouterr().err
    assert lm.calls == 0 and result.estimate is not None
    total = result.estimate.total_lm_calls
    assert f"dry run: estimated LM calls: about {total} (" in err
    summary = result.summary()
    assert f"dry run: about {total} LM calls (" in summary and "nan" not in summary


# --- 2. progress: a bar on a terminal, logging otherwise -----------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_default_progress_is_a_bar_on_a_terminal_and_logging_otherwise() -> None:
    assert isinstance(default_progress(_Terminal()), ConsoleProgress)
    assert isinstance(default_progress(io.StringIO()), LogProgress)


def test_a_plain_optimize_call_on_a_terminal_shows_the_bar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    mc.optimize(toy_program(ToyLM()), TRAIN, toy_metric, valset=VAL, max_trials=6)
    text = terminal.getvalue()
    assert "[mipro] evaluating the baseline" in text and "\r[mipro] [" in text
    assert "trial 6/6" in text


def test_the_bar_shows_calls_per_second_and_the_time_left() -> None:
    ticks = iter([0.0, 10.0, 20.0, 30.0])  # started, then one trial event every 10 s
    terminal = _Terminal()
    progress = ConsoleProgress(terminal, clock=lambda: next(ticks))
    progress.trials(1, 4, 0.5, 100)
    progress.trials(2, 4, 0.5, 200)
    progress.trials(3, 4, 0.5, 300)
    last = terminal.getvalue().split("\r")[-1]
    assert "LM calls 300  30s  10.0 calls/s  ~10s left" in last


def test_the_eta_follows_the_pace_of_the_trials() -> None:
    assert trial_line(2, 6, 0.5, 100, 50.0, width=2, eta=40.0) == (
        "[--] trial 2/6  best 0.500  LM calls 100  50s  2.0 calls/s  ~40s left"
    )
    assert duration(3725) == "1h02m" and duration(65) == "1m05s"


# --- 3. the metric's signature: checked first, the two-argument form accepted ----------------


def test_a_two_argument_metric_as_dspy_users_write_it_is_accepted() -> None:
    seen: list[int] = []

    def metric(example: Example, prediction: Any) -> bool:
        seen.append(1)
        return bool(prediction["answer"] == example.outputs["answer"])

    result = mc.optimize(
        toy_program(ToyLM()), TRAIN, metric, valset=VAL, max_trials=4, progress=False
    )
    assert seen and result.trials[0].score is not None


def test_a_metric_with_a_trace_keyword_gets_the_trace_while_bootstrapping() -> None:
    traces: list[Any] = []

    def metric(example: Example, prediction: Any, *, trace: Any = None) -> bool:
        traces.append(trace)
        return bool(prediction["answer"] == example.outputs["answer"])

    mc.optimize(toy_program(ToyLM()), TRAIN, metric, valset=VAL, max_trials=2, progress=False)
    assert any(t is not None for t in traces) and any(t is None for t in traces)


def test_a_metric_with_the_wrong_signature_fails_before_any_lm_call() -> None:
    lm = ToyLM()

    def metric(prediction: Any) -> bool:
        return True

    with pytest.raises(mc.InvalidInputError, match=r"signature \(prediction"):
        mc.optimize(toy_program(lm), TRAIN, metric, valset=VAL, progress=False)
    assert lm.calls == 0
