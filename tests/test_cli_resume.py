"""`mipro resume` treats the journal as data (issue 16, section 3): it imports only what the
user names (or, with --use-recorded, what the journal records, shown first, from the current
directory), never puts a journal-named folder on sys.path, and writes the artifact only where
the user said or where this run's own artifact is."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mipro_core import Journal, read_artifact
from mipro_core._cli_common import CLI_META
from tests.test_cli_optimize import NATIVE_APP, RESUME, optimize_args, run, workdir

__all__ = ["workdir"]  # the fixture, imported for these tests

EVIL = """
from pathlib import Path
Path(__file__).with_name("imported.marker").write_text("the journal's code ran")
def build():
    raise SystemExit("never")
"""


def edit_cli_meta(journal: Path, **changes: object) -> None:
    """What someone holding the file can do: rewrite a record (checksums are not secret)."""
    with Journal.open(journal) as store:
        store.set_meta(CLI_META, {**store.meta(CLI_META), **changes})


def finished_run(capsys: pytest.CaptureFixture[str]) -> Path:
    status, _, err = run(capsys, *optimize_args("--max-trials", "1"))
    assert status == 0, err
    return Path("myapp.mipro.sqlite")


def test_resume_imports_no_code_the_journal_names(
    workdir: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = finished_run(capsys)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "evil.py").write_text(EVIL)
    edit_cli_meta(journal, app="evil:build", cwd=str(elsewhere))

    status, _, err = run(capsys, "resume", str(journal))
    assert status == 1
    assert "records --app evil:build, --metric metrics:exact" in err
    assert "--use-recorded" in err and len(err.splitlines()) == 1
    assert not (elsewhere / "imported.marker").exists()

    # trusting the recorded specs still imports from here only, never the recorded folder
    status, _, err = run(capsys, "resume", str(journal), "--use-recorded")
    assert status == 1 and "no module named 'evil'" in err
    assert not (elsewhere / "imported.marker").exists()
    assert str(elsewhere) not in sys.path


def test_resume_shows_what_it_imports(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = finished_run(capsys)
    status, _, err = run(capsys, "resume", str(journal), "--use-recorded")
    assert status == 0, err
    assert (
        "mipro: resume imports --app myapp:build (recorded in the journal), --metric "
        f"metrics:exact (recorded in the journal) from the current directory {workdir}"
    ) in err
    status, _, err = run(capsys, "resume", str(journal), *RESUME)
    assert status == 0, err
    assert "resume imports --app myapp:build, --metric metrics:exact from the current" in err


def test_resume_writes_no_file_the_journal_names(
    workdir: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = finished_run(capsys)
    # its own artifact (marked with the journal's run id) is rewritten
    status, _, err = run(capsys, "resume", str(journal), *RESUME)
    assert status == 0, err

    precious = workdir / "precious.txt"
    precious.write_text("keep me")
    edit_cli_meta(journal, artifact=str(precious))
    status, _, err = run(capsys, "resume", str(journal), *RESUME)
    assert status == 1 and "not this run's artifact" in err and "--out" in err
    assert precious.read_text() == "keep me"

    outside = tmp_path_factory.mktemp("outside") / "new.json"
    edit_cli_meta(journal, artifact=str(outside))
    status, _, err = run(capsys, "resume", str(journal), *RESUME)
    assert status == 1 and "outside the current directory" in err
    assert not outside.exists()

    # the user decides: --out names the file, --overwrite accepts the recorded one
    status, _, err = run(capsys, "resume", str(journal), *RESUME, "--out", "mine.json")
    assert status == 0, err
    assert read_artifact(workdir / "mine.json").state.names() == ("answer",)
    edit_cli_meta(journal, artifact=str(precious))
    status, _, err = run(capsys, "resume", str(journal), *RESUME, "--overwrite")
    assert status == 0, err
    assert read_artifact(precious).state.names() == ("answer",)


@pytest.mark.parametrize(
    ("recorded", "problem"),
    [("a\x00b.json", "records an invalid artifact path"), ("x" * 5000, "cannot be used")],
    ids=["nul-byte", "name-too-long"],
)
def test_an_unusable_recorded_artifact_path_is_a_clear_error(
    workdir: Path, capsys: pytest.CaptureFixture[str], recorded: str, problem: str
) -> None:
    """A NUL byte in the recorded path crashed resume with a ValueError traceback."""
    journal = finished_run(capsys)
    edit_cli_meta(journal, artifact=recorded)
    status, _, err = run(capsys, "resume", str(journal), *RESUME)
    assert status == 1 and problem in err and "Traceback" not in err and len(err) < 1000


def test_resume_refuses_another_program_unless_forced(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = finished_run(capsys)
    (workdir / "other.py").write_text(
        NATIVE_APP.replace("Answer the question.", "Reply in French.")
    )
    args = ["resume", str(journal), "--app", "other:build", "--metric", "metrics:exact"]
    status, _, err = run(capsys, *args)
    assert status == 1 and "module 'answer': original instruction differ" in err
    status, _, err = run(capsys, *args, "--force")
    assert status == 0, err
