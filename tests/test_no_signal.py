"""A search without signal: nothing passes, no demo can be formed, no proposal helps. The repair
round (instructions written from the failing examples) is then run from the full evaluations'
failures instead of the run stopping early with 0.0 and most of its budget unspent."""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

import mipro_core as mc
from mipro_core._engine.rescue import MAX_RESCUE_ROUNDS
from mipro_core.native import NativeProgram, Stage

# the data's gold field is not the stage's output: no labeled demo, nothing passes
DATA = [mc.Example({"question": f"q{i}"}, {"label": "yes"}, id=f"e{i}") for i in range(40)]


def task_lm(
    messages: Sequence[Mapping[str, str]], *, n: int = 1, temperature: float = 0.0
) -> list[str]:
    """Answers ``yes`` only when its instruction says so."""
    return ["answer: " + ("yes" if "yes" in messages[0]["content"].lower() else "maybe")] * n


def proposer(original: str) -> Any:
    """Proposes ``original`` again (a weak proposer); reading failures, it names the answer."""

    def lm(
        messages: Sequence[Mapping[str, str]], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        text = "\n".join(m["content"] for m in messages)
        if "failing_examples:" in text and "yes" in text:
            return ["Always answer with the single word yes."] * n
        return [original] * n

    return lm


def metric(example: mc.Example, prediction: Any, trace: Any = None) -> float:
    return float(prediction == example.outputs["label"])


def run(proposal: str, **options: Any) -> mc.OptimizationResult:
    stage = Stage("qa", "question -> answer", "Answer.", lm=task_lm)
    program = NativeProgram([stage], lambda st, inp: st["qa"](question=inp["question"])["answer"])
    return mc.optimize(
        program, DATA, metric, proposer_lm=proposer(proposal), progress=False, seed=0,
        max_lm_calls=400, **options,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("proposal", "before"),
    [
        ("Answer the question.", "every configuration fully evaluated"),  # scored, all 0
        ("Answer.", "nothing to search"),  # every proposal was the original again
    ],
)
def test_without_signal_the_repair_round_writes_from_the_full_evaluations_failures(
    proposal: str, before: str
) -> None:
    off = run(proposal, proposer=mc.ProposerConfig(repair_round=False))
    assert off.best_score == 0.0 and off.stopped_reason == before and off.lm_calls < 100
    result = run(proposal)
    assert result.baseline_score == 0.0 and result.best_score == 1.0
    assert result.state["qa"].instruction == "Always answer with the single word yes."
    assert result.repair_candidates == {"qa": (len(result.instruction_candidates["qa"]) - 1,)}


def test_with_signal_there_is_no_extra_round() -> None:
    # the same run whose stage output is named like the gold field: labeled demos give signal
    data = [mc.Example(ex.inputs, {"answer": "yes"}, id=ex.id) for ex in DATA]
    stage = Stage("qa", "question -> answer", "Answer yes.", lm=task_lm)
    program = NativeProgram([stage], lambda st, inp: st["qa"](question=inp["question"])["answer"])
    result = mc.optimize(
        program, data, metric=lambda ex, p, t=None: float(p == "yes"),
        proposer_lm=proposer("Answer the question."), progress=False, seed=0, max_lm_calls=400,
    )  # fmt: skip
    assert result.baseline_score == 1.0 and not result.repair_candidates


def test_a_search_without_signal_that_runs_out_of_trials_tries_the_repair_round_last() -> None:
    # the proposer writes distinct, useless instructions: configurations remain when the trials
    # run out, so the search ends "completed" rather than "every configuration fully evaluated"
    def varied(
        messages: Sequence[Mapping[str, str]], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        text = "\n".join(m["content"] for m in messages)
        if "failing_examples:" in text and "yes" in text:
            return ["Always answer with the single word yes."] * n
        return [f"Answer the question, variant {len(text) % 997}."] * n

    stage = Stage("qa", "question -> answer", "Answer.", lm=task_lm)
    program = NativeProgram([stage], lambda st, inp: st["qa"](question=inp["question"])["answer"])
    options: dict[str, Any] = {
        "proposer_lm": varied, "progress": False, "seed": 0, "max_lm_calls": 400,
        "budget": mc.Budget(max_trials=4, num_candidates=5),
    }  # fmt: skip
    off = mc.optimize(
        program, DATA, metric, proposer=mc.ProposerConfig(repair_round=False), **options
    )
    assert off.stopped_reason == "completed" and off.best_score == 0.0
    assert len(off.instruction_candidates["qa"]) > 4  # configurations were left untried
    result = mc.optimize(program, DATA, metric, **options)
    assert result.best_score == 1.0 and len(result.trials) == len(off.trials)
    assert result.state["qa"].instruction == "Always answer with the single word yes."
    assert result.lm_calls <= 400


# Rescue rounds: while nothing scores above 0, up to MAX_RESCUE_ROUNDS repair rounds (each on
# its own sample of failing runs) try to create signal before the run ends.


class Proposer:
    """Proposes distinct useless instructions, each a function of its prompt; its
    ``helps_at``-th repair prompt (1-based) names the answer. ``crash_at``: raise
    :class:`Crash` at that repair prompt instead."""

    def __init__(self, helps_at: int | None = None, crash_at: int | None = None) -> None:
        self.helps_at, self.crash_at = helps_at, crash_at
        self.repairs = 0

    def __call__(
        self, messages: Sequence[Mapping[str, str]], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        text = "\n".join(m["content"] for m in messages)
        if "failing_examples:" not in text:
            return [f"Answer the question, variant {len(text) % 997}."] * n
        self.repairs += 1
        if self.repairs == self.crash_at:
            raise Crash
        if self.repairs == self.helps_at:
            return ["Always answer with the single word yes."] * n
        return [f"Answer the question carefully, attempt {zlib.crc32(text.encode())}."] * n


class Crash(BaseException):
    """Ends a run as a crash would (not an ``Exception``: nothing catches it)."""


def program() -> NativeProgram:
    stage = Stage("qa", "question -> answer", "Answer.", lm=task_lm)
    return NativeProgram([stage], lambda st, inp: st["qa"](question=inp["question"])["answer"])


# every trial a full evaluation (20 validation examples), and trials on minibatches of 5
MINIBATCH = [{}, {"minibatch_size": 5}]


def rescued(proposer: Proposer, **options: Any) -> mc.OptimizationResult:
    settings: dict[str, Any] = {
        "proposer_lm": proposer, "progress": False, "seed": 0, "max_lm_calls": 400,
        "budget": mc.Budget(max_trials=4, num_candidates=5), **options,
    }  # fmt: skip
    return mc.optimize(program(), DATA, metric, **settings)


@pytest.mark.parametrize("options", MINIBATCH)
def test_without_signal_the_rescue_rounds_spend_the_cap_and_say_why_they_stopped(
    options: dict[str, Any],
) -> None:
    proposer = Proposer()  # no repair prompt ever helps
    result = rescued(proposer, **options)
    assert result.best_score == 0.0 and result.stopped_reason == "no signal"
    assert proposer.repairs == MAX_RESCUE_ROUNDS  # one round used to be all
    pool = result.instruction_candidates["qa"]
    assert len(pool) == 5 + MAX_RESCUE_ROUNDS
    # each rescue round's candidate got a trial beyond the four planned ones' pool
    tried = {t.params.get("qa.instruction") for t in result.trials}
    assert set(range(5, len(pool))) <= tried
    assert result.lm_calls <= 400


@pytest.mark.parametrize("options", MINIBATCH)
def test_a_rescue_round_that_finds_signal_lets_the_search_end_as_usual(
    options: dict[str, Any],
) -> None:
    proposer = Proposer(helps_at=2)
    result = rescued(proposer, **options)
    assert proposer.repairs == 2  # no third round once something scored above 0
    assert result.best_score == 1.0 and result.stopped_reason == "completed"
    assert result.state["qa"].instruction == "Always answer with the single word yes."
    pool = result.instruction_candidates["qa"]
    assert result.repair_candidates == {"qa": (len(pool) - 2, len(pool) - 1)}  # both rounds'


@pytest.mark.parametrize("options", MINIBATCH)
def test_the_rescue_rounds_are_bounded_without_a_cap_and_stop_at_the_cap(
    options: dict[str, Any],
) -> None:
    unbounded = Proposer()
    assert rescued(unbounded, max_lm_calls=None, **options).stopped_reason == "no signal"
    assert unbounded.repairs == MAX_RESCUE_ROUNDS
    # a cap that affords fewer rounds (each needs room for its candidate's evaluations)
    whole = rescued(Proposer(), **options)
    proposer = Proposer()
    capped = rescued(proposer, **{**options, "max_lm_calls": whole.lm_calls - 10})
    assert 1 <= proposer.repairs < MAX_RESCUE_ROUNDS
    assert capped.lm_calls <= whole.lm_calls - 10 and capped.best_score == 0.0


@pytest.mark.parametrize("options", MINIBATCH)
def test_rescue_rounds_are_deterministic_and_resume_mid_rescue_as_if_uninterrupted(
    tmp_path: Path, options: dict[str, Any]
) -> None:
    whole = rescued(Proposer(), journal=tmp_path / "whole.sqlite", **options)
    again = rescued(Proposer(), **options)
    assert [t.log_entry() for t in again.trials] == [t.log_entry() for t in whole.trials]
    for crash_at in (2, 3):  # crashed at the second and at the third rescue round
        journal = tmp_path / f"crash{crash_at}.sqlite"
        with pytest.raises(Crash):
            rescued(Proposer(crash_at=crash_at), journal=journal, **options)
        proposer = Proposer()
        resumed = mc.resume(journal, program(), metric, proposer_lm=proposer, progress=False)
        assert [t.log_entry() for t in resumed.trials] == [t.log_entry() for t in whole.trials]
        assert resumed.state == whole.state and resumed.stopped_reason == "no signal"
        assert resumed.lm_calls == whole.lm_calls
        assert proposer.repairs == MAX_RESCUE_ROUNDS - crash_at + 1  # journaled ones replayed


@pytest.mark.parametrize("options", MINIBATCH)
def test_each_rescue_candidate_tries_the_demo_sets_tried_least(options: dict[str, Any]) -> None:
    # labeled demos form (the gold field is the stage's output), but nothing passes the metric
    data = [mc.Example(ex.inputs, {"answer": "yes"}, id=ex.id) for ex in DATA]
    result = mc.optimize(
        program(), data, lambda ex, p, t=None: 0.0, proposer_lm=Proposer(), progress=False,
        seed=0, max_lm_calls=400, budget=mc.Budget(max_trials=4, num_candidates=5), **options,
    )  # fmt: skip
    assert result.stopped_reason == "no signal"
    rescues = 0
    for i, trial in enumerate(result.trials):
        if trial.params.get("qa.instruction", 0) < 5:
            continue  # not a rescue candidate
        rescues += 1
        tried = Counter(t.params.get("qa.demos", 0) for t in result.trials[:i])
        assert tried[trial.params["qa.demos"]] == min(tried[d] for d in range(5))
    assert rescues == MAX_RESCUE_ROUNDS


def _repair_labels(source: Any) -> tuple[int, ...]:
    from mipro_core._report import load_report_data

    (module,) = load_report_data(source).modules
    return module.repair_indices


def _forget_repairs(journal: Path) -> None:
    """Make ``journal`` look like one from before the list of repair candidates was recorded
    (only the last round's candidate, under ``("repair", module)``)."""
    import sqlite3

    with sqlite3.connect(journal) as db:
        db.execute("DELETE FROM memo WHERE kind = 'repairs'")
    db.close()


@pytest.mark.parametrize("options", MINIBATCH)
def test_every_rescue_round_candidate_is_listed_and_labelled(
    tmp_path: Path, options: dict[str, Any]
) -> None:
    journal = tmp_path / "run.sqlite"
    result = rescued(Proposer(), journal=journal, **options)
    pool = result.instruction_candidates["qa"]
    assert len(pool) == 5 + MAX_RESCUE_ROUNDS
    assert result.repair_candidates == {"qa": (5, 6, 7)}  # not just the last round's
    assert _repair_labels(result) == _repair_labels(journal) == (5, 6, 7)
    from mipro_core._report import write_report

    (page,) = write_report(journal, tmp_path / "report.html")
    html = page.read_text()
    assert all(f"#{i} (repair round)" in html for i in (5, 6, 7))
    count = "8: 5 before the repair rounds, the original #0 included, + 3 from the repair rounds"
    assert count in html


def test_a_journal_with_only_the_last_repair_candidate_resumes_and_reports(
    tmp_path: Path,
) -> None:
    whole = rescued(Proposer(), minibatch_size=5)
    journal = tmp_path / "run.sqlite"
    with pytest.raises(Crash):
        rescued(Proposer(crash_at=3), journal=journal, minibatch_size=5)
    _forget_repairs(journal)
    resumed = mc.resume(journal, program(), metric, proposer_lm=Proposer(), progress=False)
    assert resumed.repair_candidates == whole.repair_candidates == {"qa": (5, 6, 7)}
    _forget_repairs(journal)
    assert _repair_labels(journal) == (7,)  # what such a journal holds: the last one


@pytest.mark.parametrize("record", [("repairs", "7"), ("repairs", [5, "6"]), ("repair", [5])])
def test_a_malformed_record_of_the_repair_candidates_is_a_journal_error(
    tmp_path: Path, record: tuple[str, Any]
) -> None:
    from mipro_core._journal import Journal

    journal = tmp_path / "run.sqlite"
    rescued(Proposer(), journal=journal, minibatch_size=5)
    _forget_repairs(journal)
    with Journal.open(journal) as store:
        store.put(record[0], "qa", record[1])
    with pytest.raises(mc.JournalError, match=f"{record[0]} record 'qa'"):
        _repair_labels(journal)
