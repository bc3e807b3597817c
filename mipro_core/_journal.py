"""The durable journal of a run: a SQLite file (stdlib ``sqlite3``, WAL mode).

It stores the run configuration and data, then every expensive result as it happens (bootstrap
runs, proposer replies, every scored (configuration, example) pair) plus an event log of demo
sets, instruction pools and trials. Each record is committed before the engine moves on, so a
run killed at any point loses at most the calls that were in flight. Resuming replays the
engine from the start: every step whose result is in the journal is served from it, so the
replay retraces the same path, pays only for what is missing, and ends with the same trial log
as an uninterrupted run.

A journal is data, never instructions: every row carries a checksum of what it holds (its
table, keys and JSON value), verified when it is read and all at once by :meth:`Journal.verify`
before a resume, so a changed byte is a :class:`JournalError` naming the record, never a
silently different run. The file appears under its name only complete (schema and
configuration committed under a temporary name, then renamed), and the write-ahead log is
checkpointed into the main file at every full evaluation and when the journal is closed.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Collection, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import _journal_lock
from ._errors import JournalError
from ._files import sync_directory
from ._journal_read import (
    FORMAT,
    SCHEMA_VERSION,
    JournalContents,
    check_journal_file,
    check_meta,
    checksum,
    checksum_error,
    is_journal,
    read_contents,
    verify_table,
)
from ._types import canonical_json, compact_json
from ._version import __version__

__all__ = [
    "FORMAT",
    "SCHEMA_VERSION",
    "TEMP_SUFFIX",
    "Journal",
    "JournalContents",
    "check_meta",
    "checksum",
]

TEMP_SUFFIX = ".creating"
"""A journal being created is written as ``.NAME.<pid>.creating`` next to it, then renamed."""

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL, checksum TEXT NOT NULL);
CREATE TABLE memo (
    kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, checksum TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, value TEXT NOT NULL, checksum TEXT NOT NULL
);
"""


class Journal:
    """A memo (see :mod:`mipro_core._memo`) persisted in SQLite; thread-safe."""

    def __init__(
        self,
        path: str | Path,
        connection: sqlite3.Connection,
        lock: _journal_lock.LockKey | None = None,
    ) -> None:
        self.path = Path(path)
        self._db = connection
        self._lock = threading.Lock()
        self._file_lock = lock  # this process's hold on the file (released by close)

    # ------------------------------------------------------------------ opening

    @classmethod
    def create(
        cls, path: str | Path, config: Mapping[str, Any], *, overwrite: bool = False
    ) -> Journal:
        """Start a new journal at ``path`` holding ``config`` (refuses to clobber one).

        The journal is built under a temporary name and renamed once its schema and
        configuration are committed: a process killed at any point leaves either no journal
        at ``path`` or a complete one. ``overwrite`` replaces only a mipro journal (of any
        version, damaged or not) or an empty file: never a directory, a device or another file.
        """
        path = Path(path)
        _check_target(path, overwrite)
        temp = path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")
        _remove_db(temp)
        try:
            try:
                _write_new(temp, config)
            except (JournalError, OSError) as exc:
                reason = exc.__cause__ or exc
                raise JournalError(f"cannot create the journal {path}: {reason}") from exc
            if overwrite:
                with _journal_lock.held(path) if path.is_file() else contextlib.nullcontext():
                    _remove_db(path)  # its log first: a stale log must never meet the new file
                    os.replace(temp, path)
            else:
                _remove_db(path, main=False)
                _rename_new(temp, path)
            sync_directory(path.parent)
        finally:
            _remove_db(temp)
        return cls._connected(path)

    @classmethod
    def _connected(cls, path: Path) -> Journal:
        """The journal at ``path``, locked for this process, connected read-write."""
        key = _journal_lock.acquire(path)  # another process running it: refused
        try:
            return cls(path, _connect(path), key)
        except BaseException:
            _journal_lock.release(key)
            raise

    @classmethod
    def open(cls, path: str | Path) -> Journal:
        """Open an existing journal, checking that it is one, of this schema version, and that
        its metadata (the run configuration included) passes its checksums.

        The checks read the file read-only first: a file that is not a journal (another
        application's SQLite database, an empty file) is refused as it was, never switched to
        WAL mode or otherwise written to."""
        path = Path(path)
        check_journal_file(path)  # read-only: a file that is no journal is never written to
        journal = cls._connected(path)
        try:
            journal._verify_table("meta")
        except BaseException:
            journal._db.close()  # no checkpoint: nothing is written to a damaged file
            _journal_lock.release(journal._file_lock)
            raise
        return journal

    def verify(self) -> None:
        """Check the whole file: SQLite's own structure check, then every row's checksum.

        Raises :class:`JournalError` naming the first record that fails. Called before a resume.
        """
        with self._lock, self._errors("file structure"):
            problems = [row[0] for row in self._db.execute("PRAGMA quick_check").fetchall()]
        if problems != ["ok"]:
            raise JournalError(f"journal {self.path} is damaged: {'; '.join(problems[:3])}")
        for table in ("meta", "memo", "events"):
            self._verify_table(table)

    def _verify_table(self, table: str) -> None:
        with self._lock, self._errors(f"{table} records"):
            verify_table(self._db, self.path, table)

    # ------------------------------------------------------------------ reading

    def read(self, kinds: Collection[str] = ("trial", "space", "usage")) -> JournalContents:
        """The whole file verified (:meth:`verify`), then its metadata and the memo records of
        ``kinds`` decoded: the one reader of recorded runs (resume, the report, the CLI).

        Args:
            kinds: the memo record kinds to decode (default: trials, the search space, usage).

        Returns:
            The decoded contents (``contents.trials()`` parses the trials).

        Raises:
            JournalError: the file is damaged, or a record fails its checksum or does not decode.
        """
        self.verify()
        with self._lock, self._errors("records"):
            return read_contents(self._db, self.path, kinds)

    def meta(self, key: str) -> Any:
        with self._lock, self._errors("metadata"):
            row = self._db.execute(
                "SELECT value, checksum FROM meta WHERE key = ?", (key,)
            ).fetchone()
            return None if row is None else self._checked(row, "meta", key, "", key, row[0])

    @property
    def config(self) -> dict[str, Any]:
        config = self.meta("config")
        assert isinstance(config, dict)
        return config

    def events(self, kind: str | None = None) -> list[tuple[str, Any]]:
        query = "SELECT seq, kind, value, checksum FROM events"
        args: tuple[str, ...] = ()
        if kind is not None:
            query += " WHERE kind = ?"
            args = (kind,)
        with self._lock, self._errors("events"):
            rows = self._db.execute(query + " ORDER BY seq", args).fetchall()
            return [
                (k, self._checked((v, c), "events", k, seq, k, seq, v)) for seq, k, v, c in rows
            ]

    # ------------------------------------------------------------------ the memo protocol

    def get(self, kind: str, key: str) -> Any:
        with self._lock, self._errors(f"{kind} records"):
            row = self._db.execute(
                "SELECT value, checksum FROM memo WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
            return None if row is None else self._checked(row, "memo", kind, key, kind, key, row[0])

    def put(self, kind: str, key: str, value: Any) -> None:
        # key order kept (not canonical_json): a record read back must equal the one the run
        # used, or a resumed run writes its inputs in another order into prompts built from
        # it (demos, failing examples) and pays for prompts the original run already paid for
        text = compact_json(value)
        with self._lock, self._errors(f"{kind} records"):
            with self._db:
                self._db.execute(
                    "INSERT OR REPLACE INTO memo (kind, key, value, checksum) VALUES (?, ?, ?, ?)",
                    (kind, key, text, checksum("memo", kind, key, text)),
                )
            if kind == "trial" and isinstance(value, Mapping) and value.get("kind") == "full":
                # a full evaluation is a save point: the main file alone then holds it
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def event(self, kind: str, value: Any) -> None:
        text = canonical_json(value)
        with self._lock, self._errors("events"), self._db:
            (last,) = self._db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
            seq = int(last) + 1
            self._db.execute(
                "INSERT INTO events (seq, kind, value, checksum) VALUES (?, ?, ?, ?)",
                (seq, kind, text, checksum("events", kind, seq, text)),
            )

    def set_meta(self, key: str, value: Any) -> None:
        text = json.dumps(value)
        with self._lock, self._errors("metadata"), self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value, checksum) VALUES (?, ?, ?)",
                (key, text, checksum("meta", key, text)),
            )

    def _checked(self, row: Any, table: str, kind: str, key: object, *fields: object) -> Any:
        """The JSON value of ``row`` (value, checksum) once its checksum matches ``fields``."""
        if row[1] != checksum(table, *fields):
            raise checksum_error(self.path, table, kind, key)
        return json.loads(row[0])

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """A damaged journal (truncated, overwritten, bits flipped) as :class:`JournalError`."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"journal {self.path} is damaged ({what}: {exc})") from exc
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise JournalError(f"journal {self.path} has corrupt {what} ({exc})") from exc

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the main file (which then holds every commit)."""
        with self._lock, self._errors("checkpoint"):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            self._db.close()
            key, self._file_lock = self._file_lock, None
            _journal_lock.release(key)  # after the connection: see mipro_core._journal_lock

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _connect(path: Path) -> sqlite3.Connection:
    try:
        db = sqlite3.connect(str(path), check_same_thread=False, isolation_level="DEFERRED")
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"{path} is not a readable mipro journal ({exc})") from exc
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.DatabaseError as exc:
        db.close()
        raise JournalError(f"{path} is not a readable mipro journal ({exc})") from exc
    return db


def _write_new(temp: Path, config: Mapping[str, Any]) -> None:
    """A complete journal at ``temp``: schema and metadata committed, log merged, closed."""
    meta = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "library_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": dict(config),
    }
    db = _connect(temp)
    try:
        with db:
            db.executescript(_SCHEMA)
            rows = [(k, json.dumps(v)) for k, v in meta.items()]
            db.executemany(
                "INSERT INTO meta (key, value, checksum) VALUES (?, ?, ?)",
                [(k, text, checksum("meta", k, text)) for k, text in rows],
            )
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        db.close()  # the last connection: SQLite merges and deletes the -wal file


def _rename_new(temp: Path, path: Path) -> None:
    """Give ``temp`` the name ``path`` unless something else took that name meanwhile."""
    try:
        os.link(temp, path)  # atomic and never clobbers
    except FileExistsError:
        raise _exists(path) from None
    except OSError:  # a file system without hard links
        if path.exists():
            raise _exists(path) from None
        os.replace(temp, path)


def _remove_db(path: Path, *, main: bool = True) -> None:
    for suffix in ("-wal", "-shm", *([""] if main else [])):
        Path(str(path) + suffix).unlink(missing_ok=True)


def _check_target(path: Path, overwrite: bool) -> None:
    """Refuse a journal path whose directory is missing or that holds something that is not a
    journal (or, without ``overwrite``, anything)."""
    if not path.parent.is_dir():
        raise JournalError(f"journal {path}: the directory {path.parent} does not exist")
    if path.is_dir():
        raise JournalError(f"journal {path} is a directory; name a file")
    if not path.exists():
        return
    if not path.is_file():
        raise JournalError(f"journal {path} is not a regular file (a device or a pipe?)")
    if path.stat().st_size and not is_journal(path):
        raise JournalError(
            f"{path} exists and is not a mipro journal: name another file (nothing but a "
            "journal is replaced, even with overwrite=True)"
        )
    if not overwrite:
        raise _exists(path)


def _exists(path: Path) -> JournalError:
    return JournalError(
        f"journal {path} already exists: continue it with mipro_core.resume("
        f"{str(path)!r}, program, metric) or pass overwrite=True to start over"
    )
