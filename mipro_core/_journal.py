"""The durable journal of a run: a SQLite file (stdlib ``sqlite3``, WAL mode).

It stores the run configuration and data, then every expensive result as it happens (bootstrap
runs, proposer replies, every scored (configuration, example) pair) plus an event log of demo
sets, instruction pools and trials. Each record is committed before the engine moves on, so a
run killed at any point loses at most the calls that were in flight. Resuming replays the
engine from the start: every step whose result is in the journal is served from it, so the
replay retraces the same path, pays only for what is missing, and ends with the same trial log
as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._errors import JournalError
from ._types import canonical_json, compact_json
from ._version import __version__

SCHEMA_VERSION = 1
FORMAT = "mipro.journal"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS memo (
    kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, value TEXT NOT NULL
);
"""


def check_meta(path: object, meta: Mapping[str, Any]) -> None:
    """Raise :class:`JournalError` unless ``meta`` is a journal's metadata this version reads."""
    if meta.get("format") != FORMAT:
        raise JournalError(f"{path} is not a mipro journal (format {meta.get('format')!r})")
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise JournalError(
            f"journal {path} has schema version {meta.get('schema_version')!r}; this mipro "
            f"({__version__}) reads version {SCHEMA_VERSION}"
        )
    if not isinstance(meta.get("config"), dict):
        raise JournalError(f"journal {path} has no run configuration")


class Journal:
    """A memo (see :mod:`mipro_core._memo`) persisted in SQLite; thread-safe."""

    def __init__(self, path: str | Path, connection: sqlite3.Connection) -> None:
        self.path = Path(path)
        self._db = connection
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ opening

    @classmethod
    def create(
        cls, path: str | Path, config: Mapping[str, Any], *, overwrite: bool = False
    ) -> Journal:
        """Start a new journal at ``path`` holding ``config`` (refuses to clobber one)."""
        path = Path(path)
        if path.exists():
            if not overwrite:
                raise JournalError(
                    f"journal {path} already exists: continue it with mipro_core.resume("
                    f"{str(path)!r}, program, metric) or pass overwrite=True to start over"
                )
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        db = _connect(path)
        journal = cls(path, db)
        with journal._lock, db:
            db.executescript(_SCHEMA)
            meta = {
                "format": FORMAT,
                "schema_version": SCHEMA_VERSION,
                "library_version": __version__,
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "config": dict(config),
            }
            db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in meta.items()],
            )
        return journal

    @classmethod
    def open(cls, path: str | Path) -> Journal:
        """Open an existing journal, checking that it is one and of this schema version."""
        path = Path(path)
        if not path.is_file():
            raise JournalError(f"journal {path} does not exist")
        try:
            db = _connect(path)
            rows = dict(db.execute("SELECT key, value FROM meta").fetchall())
            db.execute("SELECT count(*) FROM memo").fetchone()
            db.execute("SELECT count(*) FROM events").fetchone()
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"{path} is not a readable mipro journal ({exc})") from exc
        try:
            meta = {k: json.loads(v) for k, v in rows.items()}
        except json.JSONDecodeError as exc:
            raise JournalError(f"journal {path} has corrupt metadata ({exc})") from exc
        check_meta(path, meta)
        return cls(path, db)

    # ------------------------------------------------------------------ reading

    def meta(self, key: str) -> Any:
        with self._lock, self._errors("metadata"):
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return None if row is None else json.loads(row[0])

    @property
    def config(self) -> dict[str, Any]:
        config = self.meta("config")
        assert isinstance(config, dict)
        return config

    def events(self, kind: str | None = None) -> list[tuple[str, Any]]:
        query = "SELECT kind, value FROM events"
        args: tuple[str, ...] = ()
        if kind is not None:
            query += " WHERE kind = ?"
            args = (kind,)
        with self._lock, self._errors("events"):
            rows = self._db.execute(query + " ORDER BY seq", args).fetchall()
            return [(k, json.loads(v)) for k, v in rows]

    # ------------------------------------------------------------------ the memo protocol

    def get(self, kind: str, key: str) -> Any:
        with self._lock, self._errors(f"{kind} records"):
            row = self._db.execute(
                "SELECT value FROM memo WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
            return None if row is None else json.loads(row[0])

    def put(self, kind: str, key: str, value: Any) -> None:
        # key order kept (not canonical_json): a record read back must equal the one the run
        # used, or a resumed run writes its inputs in another order into prompts built from
        # it (demos, failing examples) and pays for prompts the original run already paid for
        text = compact_json(value)
        with self._lock, self._errors(f"{kind} records"), self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO memo (kind, key, value) VALUES (?, ?, ?)",
                (kind, key, text),
            )

    def event(self, kind: str, value: Any) -> None:
        with self._lock, self._errors("events"), self._db:
            self._db.execute(
                "INSERT INTO events (kind, value) VALUES (?, ?)", (kind, canonical_json(value))
            )

    def set_meta(self, key: str, value: Any) -> None:
        with self._lock, self._errors("metadata"), self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value))
            )

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """A damaged journal (truncated, overwritten, bits flipped) as :class:`JournalError`."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"journal {self.path} is damaged ({what}: {exc})") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise JournalError(f"journal {self.path} has corrupt {what} ({exc})") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _connect(path: Path) -> sqlite3.Connection:
    try:
        db = sqlite3.connect(str(path), check_same_thread=False, isolation_level="DEFERRED")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"{path} is not a readable mipro journal ({exc})") from exc
    return db
