"""Files are data: journals, artifacts and datasets that are not what they claim to be.

Each test gives mipro a file a user could well hand it (another program's SQLite database, a
directory, a journal another process is running, a JSONL file with characters Python counts as
line breaks, ...) and checks the outcome: the file is read as it is, or refused with a mipro
error naming it and the problem, and nothing is written to a file that is not mipro's.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

import mipro_core as mc
from mipro_core import Journal, JournalError
from tests.toy import ToyLM, toy_metric, toy_program


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
