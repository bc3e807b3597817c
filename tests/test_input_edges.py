"""Edge cases a demanding user hits: shared example ids, numpy metrics, empty model replies,
a proposer failing at the call cap, one module name given as a string, MIPRO++ on a tiny pool,
malformed journal records."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mipro_core as mc
import mipro_core.native
from mipro_core import Example, InvalidInputError, JournalError
from mipro_core._evaluate import CallBudget, score_value
from mipro_core._memo import InMemoryMemo
from mipro_core._propose._client import ProposerClient
from mipro_core._retry import Backoff
from tests.toy import ToyLM, toy_data, toy_metric, toy_program


def test_different_examples_sharing_an_id_are_refused() -> None:
    data = [Example({"question": f"word{i}"}, {"answer": f"WORD{i}"}, id="q") for i in range(4)]
    with pytest.raises(InvalidInputError, match="same id 'q'"):
        mc.optimize(toy_program(ToyLM()), data, toy_metric, valset=toy_data(8, 50))
    same = [Example({"question": "word1"}, {"answer": "WORD1"}, id="q")] * 2  # true duplicates
    result = mc.optimize(
        toy_program(ToyLM()), toy_data(8) + same, toy_metric, valset=toy_data(6, 50), max_trials=2
    )
    assert result.trials


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(np.True_, 1.0), (np.False_, 0.0), (np.int64(1), 1.0), (np.float32(0.5), 0.5)],
)
def test_a_numpy_scalar_metric_value_is_a_number(raw: Any, expected: float) -> None:
    assert score_value(raw, Example({"q": "x"}, {})) == expected


def test_a_metric_returning_numpy_bools_runs() -> None:
    def metric(example: Example, prediction: Any, trace: Any = None) -> Any:
        return np.bool_(toy_metric(example, prediction))

    result = mc.optimize(
        toy_program(ToyLM()), toy_data(12), metric, valset=toy_data(8, 50), max_trials=3
    )
    assert 0.0 <= result.best_score <= 1.0


class EmptyOnWord3(ToyLM):
    """Replies with no completion at all to the task question ``word3``."""

    def __call__(self, messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
        if messages[-1]["content"].endswith("word3"):
            return []
        return super().__call__(messages, n=n, temperature=temperature)


def test_an_empty_model_reply_is_a_malformed_answer_not_a_usage_error() -> None:
    result = mc.optimize(
        toy_program(EmptyOnWord3()), toy_data(12), toy_metric, valset=toy_data(6), max_trials=2
    )
    assert result.malformed >= 1 and result.errors == 0


def test_a_transient_proposer_fault_at_the_call_cap_stops_on_the_budget() -> None:
    def always_timing_out(messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
        raise TimeoutError("upstream timed out")

    budget = CallBudget(max_lm_calls=3)
    client = ProposerClient(
        always_timing_out, InMemoryMemo(), budget, max_retries=10, backoff=Backoff(0.0, 0.0)
    )
    sig = mc.Signature(("module",), ("module_description",))
    with pytest.raises(mc.BudgetExhaustedError, match="max_lm_calls"):
        client.ask("describe_module", sig, {"module": "m"}, temperature=0.0)
    assert budget.proposer_calls == 3  # every paid attempt is counted, none beyond the cap


def test_freeze_accepts_one_module_name_as_a_string() -> None:
    result = mc.optimize(
        toy_program(ToyLM(), stages=2),
        toy_data(12),
        toy_metric,
        valset=toy_data(8, 50),
        freeze="s0",  # type: ignore[arg-type]
        max_trials=3,
    )
    assert not any(k.startswith("s0.") for k in result.best_params)
    assert result.state["s0"] == result.initial_state["s0"]


def test_mipro_plus_plus_proposes_before_giving_up_on_a_fully_scored_pool() -> None:
    """A valset no bigger than a minibatch scores every trial fully: the initial pool is soon
    exhausted, and MIPRO++'s rounds must still add candidates instead of the run stopping."""
    result = mc.optimize(
        toy_program(ToyLM()),
        toy_data(16),
        toy_metric,
        valset=toy_data(6, 50),
        strategy="zeroshot-mipro++",
        max_trials=12,
        seed=3,
    )
    assert result.stopped_reason != "every configuration fully evaluated"
    assert len(result.trials) == 13  # the baseline and every trial asked for


def test_a_malformed_run_record_in_the_journal_is_a_journal_error(tmp_path: Path) -> None:
    journal = tmp_path / "run.sqlite"
    mc.optimize(
        toy_program(ToyLM()),
        toy_data(12),
        toy_metric,
        valset=toy_data(6, 50),
        max_trials=2,
        journal=journal,
    )
    with sqlite3.connect(journal) as db:
        db.execute("UPDATE memo SET value = '{}' WHERE kind = 'run'")
    with pytest.raises(JournalError, match="malformed"):
        mc.resume(journal, toy_program(ToyLM()), toy_metric)


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": -1},
        {"timeout": 0},
        {"max_errors": -1},
        {"max_seconds": float("nan")},
        {"max_seconds": -5},
        {"max_bootstrapped_demos": -2},
        {"max_labeled_demos": -1},
        {"parallel_trials": 0},
        {"metric_threshold": float("nan")},
        {"proposer": "temperature"},
    ],
)
def test_nonsense_settings_are_refused_before_any_call(options: dict[str, Any]) -> None:
    lm = ToyLM()
    if options.get("proposer") == "temperature":
        with pytest.raises(InvalidInputError, match="temperature"):
            mc.ProposerConfig(temperature=-1)
        return
    with pytest.raises(InvalidInputError, match=next(iter(options))):
        mc.optimize(toy_program(lm), toy_data(8), toy_metric, **options)
    assert lm.calls == 0


def test_an_example_missing_an_input_the_program_reads_fails_fast() -> None:
    """The docs' own pattern, ``inputs["question"]``: a KeyError there is bad input."""

    def forward(stages: Any, inputs: Any) -> Any:
        return stages["s0"](question=inputs["question"])

    program = mc.native.NativeProgram(
        [mc.native.Stage("s0", "question -> answer", "Answer.", lm=ToyLM())], forward
    )
    data = [*toy_data(10), Example({"query": "word99"}, {"answer": "WORD99"})]
    with pytest.raises(InvalidInputError, match="has no input 'question'"):
        mc.optimize(program, data, toy_metric, valset=data, max_trials=2)


def test_journaling_examples_with_non_json_values_is_refused_up_front(tmp_path: Path) -> None:
    import datetime

    data = [
        Example(
            {"question": f"word{i}", "day": datetime.date(2020, 1, 1)}, {"answer": "x"}, id=f"e{i}"
        )
        for i in range(8)
    ]
    with pytest.raises(InvalidInputError, match="cannot store as JSON"):
        mc.optimize(
            toy_program(ToyLM()), data, toy_metric, journal=tmp_path / "j.sqlite", max_trials=1
        )
    assert not (tmp_path / "j.sqlite").exists()


def test_a_process_pool_is_refused_as_the_executor() -> None:
    import concurrent.futures as cf

    with cf.ProcessPoolExecutor(1) as pool, pytest.raises(InvalidInputError, match="thread pool"):
        mc.optimize(toy_program(ToyLM()), toy_data(8), toy_metric, executor=pool, max_trials=1)


def test_history_and_failures_without_meta_optimize_are_reported_as_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING"):
        mc.MIPRO(proposer=mc.ProposerConfig(use_failures=True))
    assert "use_failures only take effect with meta_optimize=True" in caplog.text


def test_an_artifact_whose_demos_answer_other_fields_does_not_apply(tmp_path: Path) -> None:
    old = mc.ProgramState(
        {"s0": mc.ModuleState("Answer.", (mc.Demo({"question": "q"}, {"answer": "a"}),))}
    )
    path = mc.save_state(tmp_path / "old.json", old)
    renamed = mc.native.NativeProgram(
        [mc.native.Stage("s0", "question -> reply", "Reply.", lm=ToyLM())],
        lambda st, inputs: st["s0"](question=inputs["question"]),
    )
    with pytest.raises(mc.ArtifactError, match=r"answer \['answer'\].*produces \['reply'\]"):
        mc.apply(renamed, path)


def test_a_failed_run_leaves_the_program_as_it_was() -> None:
    """Trials apply candidates in place: an error mid-search must not leave one installed."""
    program = toy_program(ToyLM())
    before = mc.current_state(program)
    calls = {"n": 0}

    def metric(example: Example, prediction: Any, trace: Any = None) -> float:
        calls["n"] += 1
        if calls["n"] > 40:  # well into the search
            raise RuntimeError("metric bug")
        return float(toy_metric(example, prediction))

    with pytest.raises(mc.MetricError, match="metric bug"):
        mc.optimize(program, toy_data(16), metric, valset=toy_data(8, 50), max_trials=20)
    assert calls["n"] > 40
    assert mc.current_state(program) == before


def test_a_call_cap_binding_in_the_first_evaluation_is_not_overshot() -> None:
    """Before any run has finished, a run's calls were guessed as one per module: a program
    calling a module twice per run overshot a cap that binds during the baseline by half."""
    lm = ToyLM()

    def forward(st: Any, inputs: Any) -> Any:
        first = st["s0"](question=inputs["question"])
        st["s0"](question=first["answer"] + "!")  # called twice per run, like a multi-hop writer
        return st["s1"](question=inputs["question"])

    program = mc.native.NativeProgram(
        [
            mc.native.Stage("s0", "question -> answer", "Rewrite.", lm=lm),
            mc.native.Stage("s1", "question -> answer", "Answer.", lm=lm),
        ],
        forward,
    )
    with pytest.raises(mc.BudgetExhaustedError, match="baseline"):
        mc.optimize(program, toy_data(10), toy_metric, valset=toy_data(10, 50), max_lm_calls=20)
    assert lm.task_calls <= 20 + 2 * 3  # at most the runs in flight (num_threads=8 -> a few)


class SlowToyLM(ToyLM):
    """Takes at least 50 ms per task call."""

    def __call__(self, messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
        time.sleep(0.05)
        return super().__call__(messages, n=n, temperature=temperature)


def test_max_seconds_stops_runs_from_starting_during_the_baseline_too() -> None:
    """Each call takes >= 50 ms on one thread, so at most 0.3 s / 50 ms + the one in flight can
    start before the deadline, however slow the machine (slower only means fewer)."""
    lm = SlowToyLM()
    with pytest.raises(mc.BudgetExhaustedError, match="max_seconds ran out while scoring"):
        mc.optimize(
            toy_program(lm),
            toy_data(20),
            toy_metric,
            valset=toy_data(20, 50),
            max_seconds=0.3,
            num_threads=1,
        )
    assert lm.task_calls <= 0.3 / 0.05 + 1


def test_max_seconds_after_the_baseline_keeps_the_original_or_stops_the_search() -> None:
    lm = SlowToyLM()
    result = mc.optimize(
        toy_program(lm),
        toy_data(6),
        toy_metric,
        valset=toy_data(4, 50),
        max_seconds=1.0,
        num_threads=4,
        max_trials=50,
    )
    assert result.stopped_reason == "max_seconds"
    assert len(result.trials) < 51
