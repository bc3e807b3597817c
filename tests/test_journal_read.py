"""The one journal reader: ``Journal.read()`` and ``Trial.from_dict``, used by resume, the CLI
and the report (which therefore verifies checksums too)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import mipro_core
from mipro_core import Journal, JournalError, Trial
from mipro_core._report import load_report_data
from mipro_core.testing import SimulatedLM, load_task

CONFIG = {"modules": ["answer"], "strategy": "mipro"}
TRIAL = Trial(number=0, kind="full", params={}, score=0.5, example_ids=("a", "b"))


def _journal(tmp_path: Path) -> Path:
    path = tmp_path / "run.db"
    with Journal.create(path, CONFIG) as journal:
        journal.put("trial", "000000", TRIAL.to_dict())
    return path


def _tamper(path: Path, sql: str) -> None:
    db = sqlite3.connect(path)
    with db:
        db.execute(sql)
    db.close()


def test_the_report_refuses_a_trial_record_changed_after_it_was_written(tmp_path: Path) -> None:
    path = _journal(tmp_path)
    assert load_report_data(path).trials == (TRIAL,)
    _tamper(path, "UPDATE memo SET value = replace(value, '0.5', '0.9') WHERE kind = 'trial'")
    with pytest.raises(JournalError, match="trial record '000000' fails its checksum"):
        load_report_data(path)
    with Journal.open(path) as journal, pytest.raises(JournalError, match="fails its checksum"):
        journal.read()


def test_the_report_refuses_changed_metadata(tmp_path: Path) -> None:
    path = _journal(tmp_path)
    _tamper(path, "UPDATE meta SET value = '\"x\"' WHERE key = 'created_at'")
    with pytest.raises(JournalError, match="metadata record 'created_at' fails its checksum"):
        load_report_data(path)


def test_read_gives_the_trials_of_the_run(tmp_path: Path) -> None:
    task = load_task("rule_qa")
    path = tmp_path / "run.db"
    result = mipro_core.optimize(
        task.make_program(SimulatedLM(seed=0)),
        task.trainset[:30],
        task.metric,
        valset=task.valset[:20],
        journal=path,
        num_threads=2,
        num_candidates=3,
        minibatch_size=5,
        max_trials=4,
        progress=False,
    )
    with Journal.open(path) as journal:
        contents = journal.read()
    read = contents.trials()  # seconds are stored rounded to microseconds
    assert [(t.log_entry(), t.lm_calls) for t in read] == [
        (t.log_entry(), t.lm_calls) for t in result.trials
    ]
    assert contents.config["modules"] == list(result.state.modules)
    assert contents.record("space", "instructions") is not None


numbers = st.integers(min_value=0, max_value=10**6)
floats = st.floats(allow_nan=False, allow_infinity=False, width=32)


@given(
    number=numbers,
    kind=st.sampled_from(["minibatch", "full"]),
    params=st.dictionaries(st.text(min_size=1), numbers, max_size=4),
    score=st.none() | floats,
    ids=st.lists(st.text(), max_size=5),
    counts=st.tuples(numbers, numbers, numbers, numbers),
    complete=st.booleans(),
    best=st.none() | floats,
)
def test_trial_from_dict_inverts_to_dict(
    number: int,
    kind: str,
    params: dict[str, int],
    score: float | None,
    ids: list[str],
    counts: tuple[int, int, int, int],
    complete: bool,
    best: float | None,
) -> None:
    trial = Trial(
        number=number,
        kind=kind,  # type: ignore[arg-type]
        params=params,
        score=score,
        example_ids=tuple(ids),
        errors=counts[0],
        malformed=counts[1],
        lm_calls=counts[2],
        complete=complete,
        best_score=best,
        total_lm_calls=counts[3],
    )
    assert Trial.from_dict(trial.to_dict()) == trial


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"kind": "partial"}, "unknown kind"),
        ({"score": True}, "score must be a number"),
        ({"params": {"a.instruction": 1.5}}, "params must map"),
        ({"example_ids": "ab"}, "example_ids must be a list"),
        ({"number": "0"}, "expected an integer"),
        ({"score": float("nan")}, "score must be a finite number"),
        ({"score": float("inf")}, "score must be a finite number"),
        ({"seconds": -1.0}, "seconds must be a finite number >= 0"),
        ({"lm_calls": -3}, "expected a count"),
    ],
)
def test_trial_from_dict_names_what_is_wrong(change: dict[str, object], problem: str) -> None:
    with pytest.raises((TypeError, ValueError), match=problem):
        Trial.from_dict({**TRIAL.to_dict(), **change})
