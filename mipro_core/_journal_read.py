"""Reading a journal: its format, the checksum of every row, and the one reader of its records
(:func:`read_contents`) that :meth:`Journal.read <mipro_core.Journal.read>` (resume, the CLI)
and the report use; it parses trials with :meth:`Trial.from_dict <mipro_core.Trial.from_dict>`.

A journal is data: every value read is checked (its checksum, then its shape), and anything
unexpected raises :class:`~mipro_core.JournalError` naming the file and the record.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

import attrs

from ._errors import JournalError
from ._result import Trial
from ._version import __version__

__all__ = [
    "FORMAT",
    "SCHEMA_VERSION",
    "JournalContents",
    "check_journal_file",
    "check_meta",
    "checksum",
    "is_journal",
    "open_read_only",
    "read_contents",
    "verify_table",
]

SCHEMA_VERSION = 2
"""2: every row has a checksum, the configuration a program/data fingerprint (1: neither)."""
FORMAT = "mipro.journal"
SCHEMA_OBJECTS = frozenset(
    {
        ("table", "meta"),
        ("index", "sqlite_autoindex_meta_1"),
        ("table", "memo"),
        ("index", "sqlite_autoindex_memo_1"),
        ("table", "events"),
    }
)
"""What a journal's ``sqlite_master`` lists: its three tables and their primary-key indexes."""

_VERIFY = {
    "meta": "SELECT 'meta', key, '', value, checksum FROM meta",
    "memo": "SELECT 'memo', kind, key, value, checksum FROM memo",
    "events": "SELECT 'events', kind, seq, value, checksum FROM events",
}


def checksum(table: str, *fields: object) -> str:
    """The checksum of one row: its table and every field, each unambiguously delimited."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (table, *fields):
        data = str(part).encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def check_meta(path: object, meta: Mapping[str, Any]) -> None:
    """Raise :class:`JournalError` unless ``meta`` is a journal's metadata this version reads."""
    if meta.get("format") != FORMAT:
        raise JournalError(f"{path} is not a mipro journal (format {meta.get('format')!r})")
    version = meta.get("schema_version")
    if version == 1:
        raise JournalError(
            f"journal {path} was written by an earlier mipro (schema version 1, without "
            f"checksums or a program fingerprint); this mipro ({__version__}) reads version "
            f"{SCHEMA_VERSION}: finish that run with the mipro that started it, or start over"
        )
    if version != SCHEMA_VERSION:
        raise JournalError(
            f"journal {path} has schema version {version!r}; this mipro "
            f"({__version__}) reads version {SCHEMA_VERSION}"
        )
    if not isinstance(meta.get("config"), dict):
        raise JournalError(f"journal {path} has no run configuration")


def check_journal_file(path: Path) -> None:
    """Raise :class:`JournalError` unless ``path`` is a journal this version reads, reading it
    read-only (:func:`open_read_only`): a regular file, a SQLite database with the journal's
    tables, metadata that decodes and passes :func:`check_meta`."""
    if path.is_dir():
        raise JournalError(f"journal {path} is a directory, not a journal file")
    if not path.exists():
        raise JournalError(f"journal {path} does not exist")
    if not path.is_file():
        raise JournalError(f"journal {path} is not a regular file (a pipe or a device?)")
    with open_read_only(path) as db:
        rows = db.execute("SELECT key, value FROM meta").fetchall()
        db.execute("SELECT count(*) FROM memo").fetchone()
        db.execute("SELECT count(*) FROM events").fetchone()
        objects = set(db.execute("SELECT type, name FROM sqlite_master").fetchall())
    meta = {str(key): _decoded(value, path, f"meta record {key!r}") for key, value in rows}
    check_meta(path, meta)
    extra = sorted(objects - SCHEMA_OBJECTS)
    if extra:  # a trigger would run SQL of the file's choosing on every record mipro writes
        shown = ", ".join(f"{kind} {name!r:.60}" for kind, name in extra[:3])
        raise JournalError(
            f"journal {path} holds SQL objects a mipro journal never has ({shown}): it was "
            "edited, and is not opened"
        )


def is_journal(path: Path) -> bool:
    """Whether ``path`` is a mipro journal of any schema version, damaged or not (its metadata
    names the format), read read-only."""
    try:
        with open(path, "rb") as handle:
            if handle.read(16) != b"SQLite format 3\x00":
                return False
        with open_read_only(path) as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        return row is not None and isinstance(row[0], str) and json.loads(row[0]) == FORMAT
    except (OSError, JournalError, ValueError, sqlite3.Error):
        return False


def record_name(table: str, kind: str, key: object) -> str:
    """How an error message names one row."""
    if table == "meta":
        return f"metadata record {kind!r}" if kind != "config" else "run configuration"
    return f"{kind} record {key!r}" if table == "memo" else f"event {key} ({kind})"


def checksum_error(path: object, table: str, kind: str, key: object) -> JournalError:
    """The error for a row whose checksum does not match what it holds."""
    return JournalError(
        f"journal {path}: the {record_name(table, kind, key)} fails its "
        "checksum (the file was changed or damaged after it was written)"
    )


def verify_table(db: sqlite3.Connection, path: object, table: str) -> None:
    """Check every row's checksum in ``table`` (``meta``, ``memo`` or ``events``).

    Raises:
        JournalError: naming the first row that fails.
        sqlite3.DatabaseError: the file is damaged (the caller names it).
    """
    for name, kind, key, value, stored in db.execute(_VERIFY[table]).fetchall():
        fields = (kind, value) if name == "meta" else (kind, key, value)
        if stored != checksum(name, *fields):
            raise checksum_error(path, name, kind, key)


def _frozen(value: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen
class JournalContents:
    """What :func:`read_contents` read: the metadata and the memo records of the kinds asked
    for, each checked against its checksum and decoded."""

    path: Path
    meta: Mapping[str, Any] = attrs.field(converter=_frozen)
    records: Mapping[tuple[str, str], Any] = attrs.field(converter=_frozen)

    @property
    def config(self) -> dict[str, Any]:
        """The run configuration (checked to be an object when read)."""
        config = self.meta["config"]
        assert isinstance(config, dict)
        return config

    def record(self, kind: str, key: str) -> Any:
        """The value of memo record ``(kind, key)``, or None when it was not recorded."""
        return self.records.get((kind, key))

    def trials(self) -> tuple[Trial, ...]:
        """The recorded trials, by number.

        Raises:
            JournalError: a trial record is not a valid trial (names the record).
        """
        trials = []
        for (kind, key), value in self.records.items():
            if kind != "trial":
                continue
            try:
                trials.append(Trial.from_dict(value))
            except (KeyError, TypeError, ValueError) as exc:
                raise JournalError(
                    f"journal {self.path} has an invalid trial record {key!r}: {exc}"
                ) from exc
        return tuple(sorted(trials, key=lambda t: t.number))


def _decoded(text: Any, path: Path, what: str) -> Any:
    if not isinstance(text, str):
        raise JournalError(f"journal {path} has a corrupt {what} (not text)")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise JournalError(f"journal {path} has a corrupt {what} ({exc})") from exc


def read_contents(
    db: sqlite3.Connection, path: Path, kinds: Collection[str] = ("trial", "space", "usage")
) -> JournalContents:
    """The metadata and the memo records of ``kinds`` of the journal open as ``db``.

    Every row read is checked against its checksum before it is decoded, and the metadata must
    be a journal's this version reads (:func:`check_meta`).

    Raises:
        JournalError: a row fails its checksum or does not decode, or the metadata is not a
            readable journal's (names the file and the record).
        sqlite3.DatabaseError: the file is damaged (the caller names it).
    """
    meta = {}
    for key, value, stored in db.execute("SELECT key, value, checksum FROM meta").fetchall():
        if stored != checksum("meta", key, value):
            raise checksum_error(path, "meta", str(key), "")
        meta[str(key)] = _decoded(value, path, f"meta record {key!r}")
    check_meta(path, meta)
    records = {}
    marks = ", ".join("?" for _ in kinds)
    rows = db.execute(
        f"SELECT kind, key, value, checksum FROM memo WHERE kind IN ({marks})", tuple(kinds)
    ).fetchall()
    for kind, key, value, stored in rows:
        if stored != checksum("memo", kind, key, value):
            raise checksum_error(path, "memo", str(kind), key)
        records[(str(kind), str(key))] = _decoded(value, path, f"{kind} record {key!r}")
    return JournalContents(path, meta, records)


@contextlib.contextmanager
def open_read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """``path`` opened read-only by SQLite itself, leaving the file as it was.

    ``immutable=1`` when the run closed its journal (no ``-wal`` file next to it, so reading
    leaves no ``-shm``/``-wal`` files behind), ``mode=ro`` while a ``-wal`` file exists (a run in
    progress or killed), so its last commits are seen. Never through :class:`Journal`, whose
    ``open`` switches the file to WAL mode.

    Raises:
        JournalError: the file is not a readable SQLite database.
    """
    uri_path = quote(str(path.resolve()))
    mode = "mode=ro" if Path(f"{path}-wal").exists() else "immutable=1"
    try:
        db = sqlite3.connect(f"file:{uri_path}?{mode}", uri=True)
    except sqlite3.Error as exc:
        raise JournalError(f"{path} is not a readable mipro journal ({exc})") from exc
    try:
        yield db
    except sqlite3.Error as exc:
        raise JournalError(f"{path} is not a readable mipro journal ({exc})") from exc
    finally:
        db.close()
