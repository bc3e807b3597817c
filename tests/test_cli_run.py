"""`mipro demo` and `mipro resume` end to end (in-process, offline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mipro_core.cli import main


def test_demo_optimizes_and_saves_an_artifact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    artifact = tmp_path / "demo.json"
    journal = tmp_path / "demo.sqlite"
    assert main(["demo", "--output", str(artifact), "--journal", str(journal)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("test score"))
    before, after = (float(v) for v in line.rsplit(":", 1)[1].split("->"))
    assert after >= before + 0.2
    assert "LM calls:" in out and "wall time:" in out and "winning instruction" in out
    assert str(artifact.resolve()) in out
    document = json.loads(artifact.read_text())
    assert set(document["modules"]) == {"generate_query", "generate_answer"}

    # the journal of a demo run can be resumed from the command line; nothing is re-paid, and
    # the artifact goes where the run's --output said (a recorded path is written only inside
    # the current directory: a journal is data)
    artifact.unlink()
    monkeypatch.chdir(tmp_path)
    assert main(["resume", str(journal)]) == 0
    out = capsys.readouterr().out
    assert "validation score" in out and str(artifact.resolve()) in out
    assert json.loads(artifact.read_text())["modules"] == document["modules"]


def test_resume_of_a_foreign_journal_needs_the_program(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import mipro_core as mc
    from tests.toy import ToyLM, toy_data, toy_metric, toy_program

    journal = tmp_path / "j.sqlite"
    mc.optimize(
        toy_program(ToyLM()),
        toy_data(20),
        toy_metric,
        valset=toy_data(20, 100),
        journal=journal,
        max_trials=2,
        num_candidates=2,
    )
    assert main(["resume", str(journal)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mipro: error:") and "--program" in err and len(err.splitlines()) == 1


def test_resume_of_a_missing_journal_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resume", "/nonexistent/run.sqlite"]) == 1
    assert len(capsys.readouterr().err.splitlines()) == 1
