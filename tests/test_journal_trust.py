"""Journals are data (issue 16, section 3): fingerprints, checksums, atomic creation, WAL.

A journal may have been edited, damaged or copied half-way: resuming it must either refuse with
a :class:`~mipro_core.JournalError` naming the problem or continue exactly the recorded run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mipro_core as mc
from mipro_core import _journal
from mipro_core.native import NativeProgram, Stage
from tests.toy import ToyLM, toy_data, toy_metric, toy_program

ROOT = Path(__file__).resolve().parents[1]


def one_module(instruction: str, lm: ToyLM | None = None) -> NativeProgram:
    stage = Stage("s0", "question -> answer", instruction, lm=lm or ToyLM())
    return NativeProgram([stage], lambda st, inputs: st["s0"](**inputs))


def run(path: Path, program: Any = None, **options: Any) -> mc.OptimizationResult:
    return mc.optimize(
        program if program is not None else toy_program(ToyLM()),
        toy_data(20),
        toy_metric,
        valset=toy_data(20, 100),
        journal=path,
        max_trials=2,
        num_candidates=2,
        num_threads=2,
        **options,
    )


def outcome(result: mc.OptimizationResult) -> tuple[Any, ...]:
    return ([t.log_entry() for t in result.trials], result.state.to_dict())


# --- fingerprint -------------------------------------------------------------------------------


def test_a_journal_of_another_program_with_the_same_module_names_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    run(path, one_module("Answer the question."))
    other = one_module("Translate the question into French.")
    with pytest.raises(mc.JournalError, match="module 's0': original instruction differ"):
        mc.resume(path, other, toy_metric)
    assert other.modules["s0"].state.instruction == "Translate the question into French."
    # knowingly: force=True resumes anyway
    mc.resume(path, other, toy_metric, force=True)


def test_a_journal_of_another_metric_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    run(path)

    def lenient(example: mc.Example, prediction: Any, trace: Any = None) -> bool:
        return True

    with pytest.raises(mc.JournalError, match=r"the metric: .*toy_metric.*lenient"):
        mc.resume(path, toy_program(ToyLM()), lenient)


def test_an_already_optimized_program_is_not_the_recorded_one(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    program = toy_program(ToyLM())
    result = run(path, program)
    if program.modules["s0"].state == result.initial_state["s0"]:
        pytest.skip("the toy run kept the original prompt")
    with pytest.raises(mc.JournalError, match="freshly built"):
        mc.resume(path, program, toy_metric)


# --- checksums ---------------------------------------------------------------------------------


def test_a_changed_setting_in_the_configuration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    run(path)
    with sqlite3.connect(path) as db:
        (text,) = db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
        config = json.loads(text)
        config["search"]["minibatch_size"] += 8
        db.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps(config),))
    with pytest.raises(mc.JournalError, match="run configuration fails its checksum"):
        mc.resume(path, toy_program(ToyLM()), toy_metric)


def test_a_changed_proposer_reply_is_refused_naming_the_record(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    run(path)
    with sqlite3.connect(path) as db:
        key, text = db.execute(
            "SELECT key, value FROM memo WHERE kind = 'proposer' LIMIT 1"
        ).fetchone()
        db.execute(
            "UPDATE memo SET value = ? WHERE kind = 'proposer' AND key = ?",
            (text.replace("a", "b", 1), key),
        )
    with pytest.raises(mc.JournalError, match=f"proposer record '{key}' fails its checksum"):
        mc.resume(path, toy_program(ToyLM()), toy_metric)


@pytest.fixture(scope="module")
def clean_journal(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, tuple[Any, ...]]:
    path = tmp_path_factory.mktemp("flip") / "j.sqlite"
    run(path)
    assert not Path(f"{path}-wal").exists()
    data = path.read_bytes()
    resumed = mc.resume(path, toy_program(ToyLM()), toy_metric)
    return data, outcome(resumed)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    where=st.sampled_from(["anywhere", '"search":', '"proposer":', '"fields":']),
    position=st.floats(0, 1, exclude_max=True),
    bit=st.integers(0, 7),
)
def test_a_single_bit_flip_is_refused_or_changes_nothing(
    tmp_path_factory: pytest.TempPathFactory,
    clean_journal: tuple[bytes, tuple[Any, ...]],
    where: str,
    position: float,
    bit: int,
) -> None:
    """A flip anywhere in the file, or in the text of the settings and of a proposer reply
    (where a flipped digit or letter still parses: 30 -> 38)."""
    data, expected = clean_journal
    if where == "anywhere":
        offset = int(position * len(data))
    else:
        start = data.find(where.encode())
        assert start >= 0
        offset = start + int(position * 200)
    flipped = bytearray(data)
    flipped[offset] ^= 1 << bit
    path = tmp_path_factory.mktemp("flipped") / "j.sqlite"
    path.write_bytes(bytes(flipped))
    try:
        resumed = mc.resume(path, toy_program(ToyLM()), toy_metric)
    except mc.JournalError:
        return
    assert outcome(resumed) == expected


# --- atomic creation ---------------------------------------------------------------------------


def test_the_journal_appears_only_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whenever the name appears, it names a journal with its schema and configuration."""
    path = tmp_path / "run.sqlite"
    seen: list[bool] = []
    real_connect = _journal._connect

    def connect(target: Path) -> sqlite3.Connection:
        seen.append(path.exists())
        if path.exists():  # complete: it has the schema and the configuration
            db = sqlite3.connect(path)
            try:
                (text,) = db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
            finally:
                db.close()
            assert json.loads(text)["modules"] == ["s0"]
        return real_connect(target)

    monkeypatch.setattr(_journal, "_connect", connect)
    run(path)
    assert seen[0] is False  # the first connection builds the file under another name
    assert not list(tmp_path.glob(f"*{_journal.TEMP_SUFFIX}*"))


KILLER = """
import os, sys, time
import mipro_core as mc
from tests.toy import ToyLM, toy_data, toy_metric, toy_program
program, train, val = toy_program(ToyLM()), toy_data(20), toy_data(20, 100)
mc.optimize(program, train, toy_metric, valset=val, journal=sys.argv[1], max_trials=2,
            num_candidates=2, num_threads=2)
"""


def test_a_kill_while_the_journal_is_created_leaves_none_or_a_resumable_one(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for step, delay in enumerate(range(0, 55, 5)):
        folder = tmp_path / f"step{step}"
        folder.mkdir()
        path = folder / "run.sqlite"
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLER, str(path)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # the kill is timed from the journal's creation (its temporary file or itself
        # appearing), not from the child's start-up: imports take longer than 50 ms, and a
        # kill before the journal exists tests nothing
        while not any(folder.iterdir()) and proc.poll() is None:
            time.sleep(0.0005)
        assert proc.poll() is None, "the run ended before the journal was created"
        time.sleep(delay / 1000)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        if path.exists():
            mc.resume(path, toy_program(ToyLM()), toy_metric)
        else:
            run(path)  # no journal: a fresh run starts, not "already exists"


# --- the write-ahead log -----------------------------------------------------------------------


def test_a_full_evaluation_is_written_to_the_main_file(tmp_path: Path) -> None:
    """Copying only run.sqlite (not run.sqlite-wal) of a live or killed run keeps every full
    evaluation (the end-to-end check after a SIGKILL is in test_journal.py)."""
    path, copy = tmp_path / "run.sqlite", tmp_path / "copy.sqlite"
    store = mc.Journal.create(path, {"modules": []})
    try:
        for i in range(20):
            store.put("run", f"r{i}", {"score": 1.0})
        store.put("trial", "000000", {"kind": "full", "score": 0.5})
        store.put("run", "after", {"score": 0.0})
        shutil.copyfile(path, copy)  # the log is left behind
        with mc.Journal.open(copy) as copied:
            assert copied.get("trial", "000000") == {"kind": "full", "score": 0.5}
            assert copied.get("run", "r19") == {"score": 1.0}
    finally:
        store.close()


def test_closing_leaves_no_write_ahead_log(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    with mc.Journal.create(path, {"modules": []}) as store:
        store.put("run", "k", {"a": 1})
        assert Path(f"{path}-wal").exists()
    assert not Path(f"{path}-wal").exists()
    with mc.Journal.open(path) as store:
        assert store.get("run", "k") == {"a": 1}


# --- old journals ------------------------------------------------------------------------------


def test_a_journal_of_schema_version_1_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "CREATE TABLE memo (kind TEXT, key TEXT, value TEXT, PRIMARY KEY (kind, key));"
            "CREATE TABLE events (seq INTEGER PRIMARY KEY, kind TEXT, value TEXT);"
        )
        db.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [("format", '"mipro.journal"'), ("schema_version", "1"), ("config", "{}")],
        )
    with pytest.raises(mc.JournalError, match="schema version 1, without checksums"):
        mc.resume(path, toy_program(ToyLM()), toy_metric)
