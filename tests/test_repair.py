"""The repair round: one instruction per module written from the search's failing examples."""

from __future__ import annotations

import logging
import sqlite3
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mipro_core as mc
from mipro_core._propose._repair import sample_failures
from mipro_core.testing import SimulatedLM, load_task
from tests.test_method import test_score
from tests.toy import RecordingLM, ToyLM, toy_data, toy_metric, toy_program

TRAIN, VAL = toy_data(40), toy_data(60, offset=100)
OPTIONS: dict[str, Any] = dict(valset=VAL, num_threads=4, minibatch_size=15, num_candidates=4)


class FailingRepairLM(RecordingLM):
    """Refuses every repair prompt (a non-transient error: not retried)."""

    def __call__(
        self, messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        if "failing_examples:" in messages[-1]["content"]:
            raise ValueError("the proposer refused")
        return super().__call__(messages, n=n, temperature=temperature)


def journaled_run(lm: RecordingLM, journal: Path, **options: Any) -> mc.OptimizationResult:
    return mc.optimize(
        toy_program(lm),
        TRAIN,
        toy_metric,
        max_trials=15,
        seed=3,
        journal=journal,
        **options,
        **OPTIONS,
    )


def repair_prompts(lm: RecordingLM) -> list[str]:
    return [p for p in lm.proposer_prompts if "failing_examples:" in p]


def test_the_repair_round_writes_from_failures_only_and_tries_its_instruction_next() -> None:
    lm = RecordingLM()
    result = mc.optimize(toy_program(lm), TRAIN, toy_metric, max_trials=15, seed=3, **OPTIONS)
    [prompt] = repair_prompts(lm)
    assert "expected answer:" in prompt and "program's final output:" in prompt
    # the training data's view is left out: no data summary, no demos, no tip
    for field in ("dataset_summary:", "task_demos:", "stage_observations:", "tip:"):
        assert field not in prompt
    assert "original_instruction:" in prompt and "program_description:" in prompt
    assert len(result.instruction_candidates["s0"]) == OPTIONS["num_candidates"] + 1
    # it comes after full_eval_every (5) minibatch trials, and its instruction is tried at once
    minibatch = [t for t in result.trials if t.kind == "minibatch"]
    new = OPTIONS["num_candidates"]
    first = next(i for i, t in enumerate(minibatch) if t.params["s0.instruction"] == new)
    assert first == 5
    # with the best configuration's demos so far (by mean minibatch score)
    means: dict[tuple[int, int], list[float]] = {}
    for t in minibatch[:5]:
        means.setdefault((t.params["s0.instruction"], t.params["s0.demos"]), []).append(t.score)
    best = max(means, key=lambda k: statistics.fmean(means[k]))
    assert minibatch[5].params["s0.demos"] == best[1]


def test_the_repair_round_can_be_switched_off() -> None:
    lm = RecordingLM()
    result = mc.optimize(
        toy_program(lm),
        TRAIN,
        toy_metric,
        max_trials=15,
        seed=3,
        proposer=mc.ProposerConfig(repair_round=False),
        **OPTIONS,
    )
    assert not repair_prompts(lm)
    assert len(result.instruction_candidates["s0"]) == OPTIONS["num_candidates"]


def test_mipro_plus_plus_has_its_own_rounds_instead() -> None:
    lm = RecordingLM()
    mc.optimize(toy_program(lm), TRAIN, toy_metric, strategy="mipro++", max_trials=15, **OPTIONS)
    assert not repair_prompts(lm)  # MIPRO++ without use_failures shows no failures at all


def test_no_repair_round_when_the_budget_leaves_no_room_after_it() -> None:
    lm = RecordingLM()
    # enough for the baseline, the proposals and a few trials, not for a round and trials after
    mc.optimize(toy_program(lm), TRAIN, toy_metric, max_lm_calls=260, seed=3, **OPTIONS)
    assert not repair_prompts(lm)


def test_each_module_gets_its_own_failures() -> None:
    lm = RecordingLM()
    result = mc.optimize(
        toy_program(lm, stages=2), TRAIN, toy_metric, max_trials=15, seed=5, **OPTIONS
    )
    prompts = repair_prompts(lm)
    assert len(prompts) == 2
    assert "s0:" in prompts[0].split("module:", 1)[1].splitlines()[0]
    assert "s1:" in prompts[1].split("module:", 1)[1].splitlines()[0]
    assert {len(v) for v in result.instruction_candidates.values()} == {5}


def test_a_proposer_error_in_the_repair_round_keeps_the_search_going(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lm = FailingRepairLM()
    with caplog.at_level(logging.WARNING, logger="mipro_core"):
        result = mc.optimize(toy_program(lm), TRAIN, toy_metric, max_trials=15, seed=3, **OPTIONS)
    assert "repair round: no instruction for module 's0'" in caplog.text
    assert "the proposer refused" in caplog.text
    assert len(result.instruction_candidates["s0"]) == OPTIONS["num_candidates"]
    assert sum(t.kind == "minibatch" for t in result.trials) == 15
    assert result.stopped_reason == "completed"


def test_a_journaled_proposer_error_is_not_retried_on_resume(tmp_path: Path) -> None:
    journal = tmp_path / "run.sqlite"
    first = journaled_run(FailingRepairLM(), journal)
    lm = RecordingLM()  # this one would answer the repair prompt
    again = mc.resume(journal, toy_program(lm), toy_metric)
    assert not repair_prompts(lm) and lm.calls == 0
    assert [t.log_entry() for t in again.trials] == [t.log_entry() for t in first.trials]


def test_same_seed_same_trial_log_with_the_repair_round() -> None:
    def run() -> list[Any]:
        lm = RecordingLM()
        r = mc.optimize(toy_program(lm), TRAIN, toy_metric, max_trials=15, seed=7, **OPTIONS)
        assert repair_prompts(lm)
        return [t.log_entry() for t in r.trials]

    assert run() == run()


def test_sample_failures_keeps_the_module_and_the_limit_and_is_seeded() -> None:
    def failure(i: int, module: str) -> tuple[mc.Example, Any]:
        class Record:
            trace = mc.Trace([mc.ModuleCall(module, {"question": f"q{i}"}, {"answer": "x"})])
            prediction = "x"
            feedback = None

        return mc.Example({"question": f"q{i}"}, {"answer": f"Q{i}"}), Record()

    failures = [failure(i, "a" if i % 2 else "b") for i in range(20)]
    text = sample_failures(failures, "a", 3, np.random.default_rng(0))
    assert text.count("Failing example") == 3
    shown = [int(line.split(": q")[1]) for line in text.splitlines() if line.startswith("question")]
    assert all(i % 2 for i in shown)
    assert text == sample_failures(failures, "a", 3, np.random.default_rng(0))
    assert sample_failures(failures, "c", 3, np.random.default_rng(0)) == ""


def test_the_cost_estimate_counts_the_repair_round() -> None:
    def calls(**proposer: Any) -> int:
        result = mc.optimize(
            toy_program(ToyLM(), stages=2),
            TRAIN,
            toy_metric,
            dry_run=True,
            proposer=mc.ProposerConfig(**proposer),
            **OPTIONS,
        )
        assert result.estimate is not None
        return result.estimate.proposer_calls

    assert calls() == calls(repair_round=False) + 2  # one per module


def test_on_scone_nli_the_repair_round_finds_what_the_training_data_hide() -> None:
    """The simulated ScoNe task: its training sentences support a shortcut that fails under
    negation on validation and test (docs/simulated-lm.md), so grounded proposals mostly repeat
    it; failing validation examples show the proposer the negations."""
    task = load_task("scone_nli")

    def mean_test(repair: bool) -> float:
        scores = []
        for seed in range(100, 110):
            program = task.make_program(SimulatedLM(seed=seed))
            mc.optimize(
                program,
                task.trainset,
                task.metric,
                valset=task.valset,
                seed=seed,
                max_lm_calls=540,
                max_trials=1000,
                proposer=mc.ProposerConfig(repair_round=repair),
                progress=None,
            )
            scores.append(test_score(task, program))
        return statistics.fmean(scores)

    with_repair, without = mean_test(True), mean_test(False)
    assert with_repair >= without + 0.03, (with_repair, without)


def test_a_journal_from_before_the_repair_round_resumes_without_it(tmp_path: Path) -> None:
    journal = tmp_path / "old.sqlite"
    first = journaled_run(RecordingLM(), journal, proposer=mc.ProposerConfig(repair_round=False))
    with mc.Journal.open(journal) as store:  # what an older version wrote: no such setting
        config = store.config
        del config["proposer"]["repair_round"]
        store.set_meta("config", config)
    with sqlite3.connect(journal) as db:
        db.execute("DELETE FROM memo WHERE kind = 'run'")  # as if killed before its trials
    lm = RecordingLM()
    again = mc.resume(journal, toy_program(lm), toy_metric)
    assert not repair_prompts(lm)
    assert [t.log_entry() for t in again.trials] == [t.log_entry() for t in first.trials]
