"""Files are data: journals, artifacts and datasets that are not what they claim to be.

Each test gives mipro a file a user could well hand it (another program's SQLite database, a
directory, a journal another process is running, a JSONL file with characters Python counts as
line breaks, ...) and checks the outcome: the file is read as it is, or refused with a mipro
error naming it and the problem, and nothing is written to a file that is not mipro's.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import mipro_core as mc
from mipro_core import InvalidInputError, Journal, JournalError
from mipro_core._data_files import ProgramFields, load_dataset
from mipro_core._journal_read import checksum
from mipro_core.cli import main
from tests.toy import ToyLM, toy_data, toy_metric, toy_program


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- journals ----------------------------------------------------------------------------------


def foreign_database(path: Path) -> Path:
    """Another application's SQLite database (rollback journal mode, like most)."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (name TEXT)")
        db.execute("INSERT INTO users VALUES ('ada')")
    return path


def empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize("make", [foreign_database, empty_file])
def test_opening_a_file_that_is_no_journal_leaves_it_untouched(
    tmp_path: Path, make: Callable[[Path], Path]
) -> None:
    """Resume used to switch any SQLite file it was given to WAL mode (and an empty file into a
    database) before finding it was no journal: the user's file was changed for good."""
    path = make(tmp_path / "app.db")
    before = digest(path)
    with pytest.raises(JournalError, match="not a readable mipro journal"):
        mc.resume(path, toy_program(ToyLM()), toy_metric)
    with pytest.raises(JournalError):
        Journal.open(path)
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]


def test_a_directory_or_fifo_given_as_the_journal_is_named_as_such(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="is a directory, not a journal file"):
        Journal.open(tmp_path)
    fifo = tmp_path / "pipe"
    if hasattr(os, "mkfifo"):
        os.mkfifo(fifo)
        with pytest.raises(JournalError, match="is not a regular file"):
            Journal.open(fifo)
    with pytest.raises(JournalError, match="does not exist"):
        Journal.open(tmp_path / "missing.sqlite")


# --- datasets ----------------------------------------------------------------------------------

QA = ProgramFields(inputs=("question",), outputs=("answer",))


def dataset_error(path: Path) -> str:
    with pytest.raises(InvalidInputError) as info:
        load_dataset(path, QA)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    return message


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85"])
def test_jsonl_values_may_hold_characters_python_counts_as_line_breaks(
    tmp_path: Path, char: str
) -> None:
    """JSON lets a string hold U+2028, U+2029 and U+0085 unescaped (``json.dumps(...,
    ensure_ascii=False)`` writes them so); ``str.splitlines`` cut such a row in two."""
    rows = [{"question": f"a{char}b", "answer": "c"}, {"question": "d", "answer": "e"}]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    assert [dict(e.inputs) for e in load_dataset(path, QA).examples] == [
        {"question": f"a{char}b"},
        {"question": "d"},
    ]
    path.write_text(path.read_text("utf-8") + "{oops}\n", "utf-8")
    assert ":3: invalid JSON" in dataset_error(path)


def test_a_deeply_nested_jsonl_value_is_an_invalid_input_error(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    deep = "[" * 100_000 + "]" * 100_000
    path.write_text('{"question": "a", "answer": "b"}\n{"question": ' + deep + "}\n")
    assert ":2: invalid JSON (nested too deeply)" in dataset_error(path)


def test_a_value_nested_deeper_than_a_journal_can_read_back_is_refused(tmp_path: Path) -> None:
    """980 levels parse, and were journaled, but the journal then failed to read back ("a
    corrupt meta record 'config'"), blaming the journal for the data."""
    path = tmp_path / "train.jsonl"
    ok = "[" * 100 + "]" * 100
    path.write_text(f'{{"question": "a", "answer": {ok}}}\n')
    assert load_dataset(path, QA).examples[0].outputs["answer"] == json.loads(ok)
    path.write_text('{"question": "a", "answer": ' + "[" * 300 + "]" * 300 + "}\n")
    assert ":1: a value nested more than 100 levels deep" in dataset_error(path)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            [{"inputs": {"question": "a"}, "id": "x"}, {"inputs": {"question": "b"}, "id": "x"}],
            ":2: duplicate id 'x' (first on line 1)",
        ),
        ([{"inputs": {"question": "a"}, "id": True}], ":1: 'id' must be a string or a number"),
    ],
)
def test_example_objects_have_their_ids_checked_like_flat_rows(
    tmp_path: Path, rows: list[dict[str, object]], expected: str
) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert expected in dataset_error(path)


def test_a_lone_surrogate_in_a_row_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text('{"question": "a", "answer": "b"}\n{"question": "\\ud800", "answer": "c"}\n')
    assert ":2:" in dataset_error(path)


def test_a_nul_byte_is_refused_naming_its_line(tmp_path: Path) -> None:
    """A CSV of UTF-16 text without a byte order mark decodes as UTF-8 full of NULs."""
    path = tmp_path / "train.csv"
    path.write_bytes(b"question,answer\nok,yes\n" + "q,a\n".encode("utf-16-le"))
    assert ":3: a NUL byte" in dataset_error(path)


def test_a_csv_field_longer_than_the_csv_module_default_is_read(tmp_path: Path) -> None:
    """A long context (over 128 KiB) in one CSV cell is data like any other."""
    path = tmp_path / "train.csv"
    path.write_text("question,answer\n" + "x" * 200_000 + ",c\n")
    limit = csv.field_size_limit()
    assert load_dataset(path, QA).examples[0].inputs["question"] == "x" * 200_000
    assert csv.field_size_limit() == limit  # the process-wide limit is left as it was


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_pipe_given_as_training_data_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    os.mkfifo("train.jsonl")
    argv = ["optimize", "app:build", "--train", "train.jsonl", "--metric", "m:f"]
    assert main(argv) == 1
    assert "--train train.jsonl: not a regular file" in capsys.readouterr().err


APP = """
from mipro_core.native import NativeProgram, Stage
from mipro_core.testing import SimulatedLM


def build():
    stage = Stage("answer", "question -> answer", "Answer.", lm=SimulatedLM(seed=0))
    return NativeProgram([stage], lambda stages, inputs: stages["answer"](**inputs))
"""

HOLDER = """
import sys
from mipro_core import Journal
with Journal.open(sys.argv[1]):
    print("open", flush=True)
    sys.stdin.read()
"""


def test_a_journal_another_process_has_open_is_refused_at_once(tmp_path: Path) -> None:
    """Two processes resuming one journal would each pay for every missing step."""
    path = tmp_path / "run.sqlite"
    Journal.create(path, {"run": 1}).close()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        with pytest.raises(JournalError, match="in use by another process"):
            mc.resume(path, toy_program(ToyLM()), toy_metric)
        with pytest.raises(JournalError, match="in use by another process"):
            Journal.create(path, {"run": 2}, overwrite=True)
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0
    with Journal.open(path) as first, Journal.open(path) as second:  # one process: shared
        assert first.config == second.config == {"run": 1}
    with Journal.create(path, {"run": 2}, overwrite=True) as journal:
        assert journal.config == {"run": 2}


def test_column_names_from_a_file_reach_the_terminal_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A column name is file content: an escape sequence in it must not drive the terminal."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "escapes_app.py").write_text(APP)
    (tmp_path / "escapes_metric.py").write_text(
        "def f(example, prediction, trace=None):\n    return 1.0\n"
    )
    title = "\x1b]0;owned\x07"
    rows = [{"question": f"q{i}", "answer": "a", f"note{title}": "x"} for i in range(4)]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["optimize", "escapes_app:build", "--train", "train.jsonl"]
    args += ["--metric", "escapes_metric:f", "--dry-run"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "note\\x1b]0;owned\\x07" in out
    (tmp_path / "bad.jsonl").write_text(json.dumps({f"q{title}": "x", "answer": "a"}) + "\n")
    assert main([*args[:3], "bad.jsonl", *args[4:]]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "q\\x1b]0;owned\\x07" in err


@pytest.fixture(scope="module")
def finished_journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("journal") / "run.sqlite"
    mc.optimize(
        toy_program(ToyLM()),
        toy_data(12),
        toy_metric,
        valset=toy_data(12, 100),
        journal=path,
        max_trials=1,
        num_candidates=2,
        num_threads=2,
    )
    return path


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("seed", 1.5, "seed must be a whole number, got 1.5"),
        ("num_threads", "4", "num_threads must be a whole number, got '4'"),
        ("freeze", "s0", "freeze must be a list of module names, got 's0'"),
        ("freeze", ["s9"], "freeze names unknown module(s) ['s9']"),
        ("search", {"search_demos": "false"}, "search.search_demos must be true or false"),
    ],
)
def test_an_edited_run_setting_is_refused_not_coerced(
    tmp_path: Path, finished_journal: Path, key: str, value: object, problem: str
) -> None:
    """Whoever can write a journal can recompute its checksums: its settings are checked as
    strictly as `optimize` checks arguments (a `"s0"` freeze was read as modules 's' and '0',
    a seed of 1.5 as 1)."""
    path = tmp_path / "run.sqlite"
    shutil.copy(finished_journal, path)
    with Journal.open(path) as journal:
        config = journal.config
        if isinstance(value, dict):  # one setting of a section
            value = {**config[key], **value}
        journal.set_meta("config", {**config, key: value})
    with pytest.raises(JournalError) as info:
        mc.resume(path, toy_program(ToyLM()), toy_metric)
    assert "invalid run configuration" in str(info.value) and problem in str(info.value)


def test_a_journal_given_as_an_artifact_is_named_as_one(
    tmp_path: Path, finished_journal: Path
) -> None:
    with pytest.raises(mc.ArtifactError, match="a SQLite database \\(a mipro journal\\?\\)"):
        mc.load_state(finished_journal)


def rewrite_records(path: Path, kind: str, change: Callable[[dict[str, Any]], str]) -> None:
    """Rewrite every ``kind`` memo record as someone holding the file can (new checksums)."""
    db = sqlite3.connect(path)
    try:
        with db:
            rows = db.execute("SELECT key, value FROM memo WHERE kind = ?", (kind,)).fetchall()
            for key, value in rows:
                text = change(json.loads(value))
                db.execute(
                    "UPDATE memo SET value = ?, checksum = ? WHERE kind = ? AND key = ?",
                    (text, checksum("memo", kind, key, text), kind, key),
                )
    finally:
        db.close()


@pytest.mark.parametrize(
    ("kind", "score", "problem"),
    [
        ("run", "NaN", "score nan is not a finite number"),
        ("run", '"high"', "score 'high' is not"),
        ("bootstrap", "Infinity", "score inf is not a finite number"),
    ],
)
def test_a_recorded_run_with_a_score_that_is_no_number_is_refused_before_any_call(
    tmp_path: Path, finished_journal: Path, kind: str, score: str, problem: str
) -> None:
    """A NaN score reached the sampler (an InvalidInputError about an Observation) mid-run."""
    path = tmp_path / "run.sqlite"
    shutil.copy(finished_journal, path)
    rewrite_records(path, kind, lambda run: json.dumps({**run, "score": 0.5}).replace("0.5", score))
    lm = ToyLM()
    with pytest.raises(JournalError) as info:
        mc.resume(path, toy_program(lm), toy_metric)
    assert str(info.value).startswith(f"journal {path}: ") and problem in str(info.value)
    assert lm.calls == 0


def test_overwrite_replaces_only_a_journal(tmp_path: Path) -> None:
    """``overwrite=True`` unlinked whatever the path named: a data file given by mistake, a
    named pipe, even a device (``journal="/dev/null"``, run as root)."""
    data = tmp_path / "train.csv"
    data.write_text("question,answer\na,b\n")
    with pytest.raises(JournalError, match="exists and is not a mipro journal"):
        Journal.create(data, {"run": 1}, overwrite=True)
    assert data.read_text() == "question,answer\na,b\n"
    if hasattr(os, "mkfifo"):
        pipe = tmp_path / "pipe"
        os.mkfifo(pipe)
        with pytest.raises(JournalError, match="is not a regular file"):
            Journal.create(pipe, {"run": 1}, overwrite=True)
        assert pipe.exists()
    with pytest.raises(JournalError, match="is a directory; name a file"):
        Journal.create(tmp_path, {"run": 1}, overwrite=True)
    journal = tmp_path / "run.sqlite"
    Journal.create(journal, {"run": 1}).close()
    with sqlite3.connect(journal) as db:  # an old or damaged journal is still a journal
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.close()
    with Journal.create(journal, {"run": 2}, overwrite=True) as replaced:
        assert replaced.config == {"run": 2}


def test_a_journal_in_a_missing_directory_is_named_before_any_call(tmp_path: Path) -> None:
    lm = ToyLM()
    path = tmp_path / "nowhere" / "run.sqlite"
    with pytest.raises(JournalError, match=r"the directory .*nowhere does not exist"):
        mc.optimize(toy_program(lm), toy_data(12), toy_metric, journal=path, max_trials=1)
    assert lm.calls == 0 and not path.parent.exists()


@pytest.mark.parametrize("latency", [1e9, float("nan"), -1.0])
def test_a_demo_journal_recording_an_impossible_latency_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], latency: float
) -> None:
    """A recorded latency of 1e9 s made `mipro resume` sleep that long per call; NaN failed
    every call (time.sleep(nan))."""
    from mipro_core.testing import TASK_NAMES

    path = tmp_path / "demo.sqlite"
    with Journal.create(path, {"run": 1}) as journal:
        journal.set_meta("demo", {"task": TASK_NAMES[0], "latency": latency})
    assert main(["resume", str(path)]) == 1
    assert "records a demo latency of" in capsys.readouterr().err
    assert main(["demo", "--latency", str(latency)]) == 2
    assert "--latency" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('question,answer\nq1,"a1\nq2,a2\nq3,a3\n', ":2: malformed CSV (a quoted field"),
        ('question,answer\nq1,"a1"x\n', ":2: malformed CSV (',' expected after '\"')"),
    ],
)
def test_a_csv_quote_left_open_is_refused_not_read_as_one_cell(
    tmp_path: Path, text: str, expected: str
) -> None:
    """An unclosed quote took every later line into one cell (three examples read as one);
    text after a closing quote was glued on (`"a1"x` read as `a1x`)."""
    path = tmp_path / "train.csv"
    path.write_text(text)
    assert expected in dataset_error(path)


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TRIGGER spy AFTER INSERT ON memo BEGIN DELETE FROM memo; END",
        "CREATE VIEW shadow AS SELECT * FROM memo",
        "CREATE TABLE extra (x)",
    ],
)
def test_a_journal_holding_sql_a_journal_never_has_is_not_opened(
    tmp_path: Path, finished_journal: Path, sql: str
) -> None:
    """A trigger in the file ran on every record resume wrote (here: deleting them all)."""
    path = tmp_path / "run.sqlite"
    shutil.copy(finished_journal, path)
    db = sqlite3.connect(path)
    try:
        db.execute(sql)
        db.commit()
    finally:
        db.close()
    before = digest(path)
    lm = ToyLM()
    with pytest.raises(JournalError, match="holds SQL objects a mipro journal never has"):
        mc.resume(path, toy_program(lm), toy_metric)
    assert lm.calls == 0 and digest(path) == before
