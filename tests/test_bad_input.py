"""Malformed input only ever raises the documented exception types."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mipro_core as mc
from tests.toy import ToyLM, toy_data, toy_metric, toy_program

FAST: dict[str, Any] = dict(num_threads=2, max_trials=2, num_candidates=2, minibatch_size=5)
junk = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=5),
    st.dictionaries(st.text(max_size=3), st.integers()),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.lists(st.one_of(junk, st.builds(mc.Example, st.just({"question": "w"}))), max_size=6)
)
def test_malformed_datasets_raise_invalid_input(data: list[Any]) -> None:
    with contextlib.suppress(mc.InvalidInputError, mc.MetricError, mc.BudgetExhaustedError):
        mc.optimize(toy_program(ToyLM()), data, toy_metric, **FAST)


@settings(max_examples=30, deadline=None)
@given(value=st.one_of(junk, st.floats(allow_nan=True), st.booleans()))
def test_any_metric_output_is_a_score_or_a_metric_error(value: Any) -> None:
    def metric(example: mc.Example, prediction: Any, trace: Any = None) -> Any:
        return value

    ok = isinstance(value, (bool, int, float)) and math.isfinite(float(value))
    try:
        result = mc.optimize(
            toy_program(ToyLM()), toy_data(10), metric, valset=toy_data(10, 50), **FAST
        )
    except mc.MetricError as exc:
        assert not ok
        assert "metric" in str(exc)
    else:
        assert ok and result.baseline_score == pytest.approx(float(value))


def test_a_metric_that_raises_is_named() -> None:
    def metric(example: mc.Example, prediction: Any, trace: Any = None) -> float:
        raise KeyError("answer")

    with pytest.raises(mc.MetricError, match="metric raised KeyError"):
        mc.optimize(toy_program(ToyLM()), toy_data(10), metric, valset=toy_data(10, 50), **FAST)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.binary(max_size=300))
def test_garbage_journals_raise_journal_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "j.sqlite"
    path.write_bytes(content)
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    with pytest.raises(mc.JournalError):
        mc.resume(path, toy_program(ToyLM()), toy_metric)


def test_metric_that_never_passes_degrades_to_instructions_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def never(example: mc.Example, prediction: Any, trace: Any = None) -> float:
        return 0.0

    with caplog.at_level(logging.WARNING, logger="mipro_core"):
        result = mc.optimize(
            toy_program(ToyLM()), toy_data(20), never, valset=toy_data(20, 50), **FAST
        )
    assert "nothing to bootstrap" in caplog.text
    assert all(d.source == "labeled" for d in result.state["s0"].demos)


class EmptyProposer:
    def __call__(
        self, messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        return [""] * n


def test_a_proposer_that_returns_empty_text_is_named() -> None:
    # an empty reply is retried like a transient fault (no wait here), then named
    search = mc.SearchConfig(minibatch_size=5, retry_base_delay=0.0, retry_max_delay=0.0)
    optimizer = mc.MIPRO(
        budget=mc.Budget(max_trials=2, num_candidates=3), search=search, num_threads=2
    )
    with pytest.raises(mc.LMError, match="empty completion"):
        optimizer.optimize(
            toy_program(ToyLM()),
            toy_data(20),
            toy_metric,
            valset=toy_data(20, 50),
            proposer_lm=EmptyProposer(),
        )


def test_a_program_with_no_modules_is_refused() -> None:
    class Empty:
        @property
        def modules(self) -> dict[str, Any]:
            return {}

        def apply(self, state: Any) -> None: ...
        def run(self, inputs: Any) -> Any: ...
        def describe(self) -> str:
            return ""

    with pytest.raises(mc.InvalidInputError, match="no modules"):
        mc.optimize(Empty(), toy_data(10), toy_metric, valset=toy_data(10, 50))


def test_examples_missing_a_field_a_stage_needs_fail_fast_with_its_name() -> None:
    from mipro_core.native import NativeProgram, Stage

    lm = ToyLM()
    program = NativeProgram(
        [Stage("s0", "question -> answer", "Answer.", lm=lm)],
        lambda stages, inputs: stages["s0"](**inputs),
    )
    data = [mc.Example({"query": f"w{i}"}, {"answer": f"W{i}"}) for i in range(20)]
    with pytest.raises(mc.InvalidInputError, match="question"):
        mc.optimize(program, data[:10], toy_metric, valset=data[10:], **FAST)
    assert lm.calls == 0


def test_an_unreachable_model_is_reported_while_scoring_the_baseline() -> None:
    with pytest.raises(mc.ErrorBudgetExceededError, match="unmodified program failed"):
        mc.optimize(
            toy_program(ToyLM(fail=RuntimeError)),
            toy_data(10),
            toy_metric,
            valset=toy_data(10, 50),
            **FAST,
        )
