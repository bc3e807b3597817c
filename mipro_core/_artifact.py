"""Artifacts: an optimized :class:`~mipro_core.ProgramState` as versioned, diffable JSON.

An artifact is one UTF-8 JSON object, pretty-printed (``indent=2``, sorted keys, trailing
newline) so that two artifacts diff line by line::

    {
      "created_at": "2025-01-31T12:00:00+00:00",
      "format": "mipro.program_state",
      "library_version": "0.1.0",
      "metadata": {"baseline_score": 0.41, "score": 0.63, "seed": 0},
      "module_names": ["query", "answer"],
      "modules": {"answer": {"demos": [...], "instruction": "..."}, "query": {...}},
      "schema_version": 1
    }

``module_names`` keeps the program's module order (``modules`` is sorted like every object).

Loading is strict and never executes code: only :mod:`json` parses the file, and anything that
is not exactly this schema raises :class:`~mipro_core.ArtifactError` naming the file and the
reason — non-UTF-8 or non-JSON text (e.g. a truncated file), another ``format``, another
``schema_version`` (newer or older), missing or unknown fields, wrong types, ``NaN`` or
``Infinity``, **duplicate keys** (rejected: a JSON object with a key twice reads differently in
different tools, so a reviewer could approve one value while mipro loads another), lone UTF-16
surrogates, nesting deeper than 100 levels, and files over 64 MiB.

Saving writes a temporary file in the same directory and renames it over the target
(:func:`os.replace`), so a crash never leaves a half-written artifact.
"""

from __future__ import annotations

import codecs
import json
import math
import os
import stat
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from . import _strict_json as strict_json
from ._errors import ArtifactError, InvalidInputError
from ._files import write_atomic
from ._types import Demo, ModuleState, ProgramState
from ._version import __version__

FORMAT = "mipro.program_state"
SCHEMA_VERSION = 1
MAX_ARTIFACT_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 100

_TOP_FIELDS = frozenset(
    {
        "format",
        "schema_version",
        "library_version",
        "created_at",
        "module_names",
        "modules",
        "metadata",
    }
)
_MODULE_FIELDS = frozenset({"instruction", "demos"})
_DEMO_FIELDS = frozenset({"inputs", "outputs", "source"})


def _freeze(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


@attrs.frozen
class Artifact:
    """A loaded artifact: the program state plus what was recorded alongside it."""

    state: ProgramState
    metadata: Mapping[str, Any] = attrs.field(converter=_freeze)
    schema_version: int
    library_version: str
    created_at: datetime


class _Invalid(Exception):
    """A reason why a value cannot be (or was not) an artifact; wrapped by the callers."""


# --- JSON values -------------------------------------------------------------------------------


def _json_value(value: Any, where: str, depth: int = 0) -> Any:
    """A plain-JSON copy of ``value`` (lists, str-keyed dicts, finite numbers, valid text)."""
    if depth > MAX_DEPTH:
        raise _Invalid(f"{where} is nested more than {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        _check_text(value, where)
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Invalid(f"{where} is {value} (JSON allows only finite numbers)")
        return float(value)
    if isinstance(value, Mapping):
        copy = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Invalid(f"{where} has a non-string key {key!r}")
            _check_text(key, f"a key of {where}")
            copy[key] = _json_value(item, f"{where}[{key!r}]", depth + 1)
        return copy
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [_json_value(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise _Invalid(f"{where} is a {type(value).__name__}, which JSON cannot represent")


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _Invalid(f"{where} contains a lone surrogate (position {exc.start})") from None


# --- saving ------------------------------------------------------------------------------------


def _document(state: ProgramState, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    if not isinstance(state, ProgramState):
        raise _Invalid(f"state must be a ProgramState, got {type(state).__name__}")
    if not len(state):
        raise _Invalid("state has no modules")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise _Invalid(f"metadata must be a mapping, got {type(metadata).__name__}")
    for name in state:
        if not isinstance(name, str) or not name:
            raise _Invalid(f"module name {name!r} is not a non-empty string")
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "library_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "module_names": list(state.names()),
        "modules": _json_value(state.to_dict(), "state"),
        "metadata": _json_value(dict(metadata or {}), "metadata"),
    }


def dumps_state(state: ProgramState, metadata: Mapping[str, Any] | None = None) -> str:
    """The artifact text :func:`save_state` would write (pretty JSON with a trailing newline).

    Raises :class:`~mipro_core.InvalidInputError` when the state or metadata holds something
    JSON cannot represent exactly (NaN, objects, non-string keys, lone surrogates, ...).
    """
    try:
        document = _document(state, metadata)
        text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (_Invalid, ValueError) as exc:
        raise InvalidInputError(f"cannot save artifact: {exc}") from None
    text += "\n"
    if len(text.encode("utf-8")) > MAX_ARTIFACT_BYTES:
        raise InvalidInputError(f"cannot save artifact: larger than {MAX_ARTIFACT_BYTES} bytes")
    return text


def save_state(
    path: str | os.PathLike[str], state: ProgramState, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write ``state`` (and free-form ``metadata``: score, seed, ...) as an artifact at ``path``.

    The write is atomic: readers see the old file or the new one, never a mix. Returns the path.
    Raises :class:`~mipro_core.InvalidInputError` for content JSON cannot hold and
    :class:`OSError` when the file cannot be written.
    """
    target = Path(path)
    write_atomic(target, dumps_state(state, metadata).encode("utf-8"))
    return target


# --- loading -----------------------------------------------------------------------------------


def read_artifact(path: str | os.PathLike[str]) -> Artifact:
    """Load and validate the artifact at ``path``.

    Raises :class:`~mipro_core.ArtifactError` (naming the file and the reason) for anything but
    a well-formed artifact of this schema version, and :class:`OSError` when the file cannot be
    opened. Never executes code from the file.
    """
    source = Path(path)
    try:
        return _from_document(_parse(_read_bounded(source)))
    except _Invalid as exc:
        raise ArtifactError(f"{source}: {exc}") from None


def load_state(path: str | os.PathLike[str]) -> ProgramState:
    """The :class:`~mipro_core.ProgramState` stored in the artifact at ``path``."""
    return read_artifact(path).state


def loads_artifact(text: str | bytes) -> Artifact:
    """Validate artifact content held in memory (same rules as :func:`read_artifact`)."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    try:
        if len(raw) > MAX_ARTIFACT_BYTES:
            raise _Invalid(f"larger than {MAX_ARTIFACT_BYTES} bytes")
        return _from_document(_parse(raw))
    except _Invalid as exc:
        raise ArtifactError(f"<artifact text>: {exc}") from None


def _read_bounded(source: Path) -> bytes:
    if not stat.S_ISREG(os.stat(source).st_mode):  # e.g. a FIFO or device: never block on it
        raise _Invalid("not a regular file")
    with open(source, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > MAX_ARTIFACT_BYTES:
            raise _Invalid(f"file is {size} bytes, larger than the {MAX_ARTIFACT_BYTES} limit")
        data = handle.read(MAX_ARTIFACT_BYTES + 1)
    if len(data) > MAX_ARTIFACT_BYTES:
        raise _Invalid(f"file is larger than the {MAX_ARTIFACT_BYTES} byte limit")
    return data


def _parse(raw: bytes) -> Any:
    if not raw.strip():
        raise _Invalid("file is empty")
    if raw.startswith(b"SQLite format 3\x00"):
        raise _Invalid(
            "a SQLite database (a mipro journal?), not an artifact: `mipro resume JOURNAL "
            "--out FILE` writes the artifact of a journaled run"
        )
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Invalid(f"not UTF-8 text (bad byte at offset {exc.start})") from None
    try:
        return strict_json.loads(text)
    except strict_json.StrictJSONError as exc:
        raise _Invalid(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise _Invalid(
            f"not valid JSON, the file may be truncated or corrupt "
            f"(line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise _Invalid("JSON is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer literal with thousands of digits
        raise _Invalid(f"unreadable JSON value ({exc})") from None


def _expect(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Invalid(f"{where} must be {what}, got {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _check_fields(obj: dict[str, Any], expected: frozenset[str], where: str) -> None:
    missing = sorted(expected - obj.keys())
    unknown = sorted(obj.keys() - expected)
    if missing:
        raise _Invalid(f"{where} lacks field(s) {', '.join(missing)}")
    if unknown:
        raise _Invalid(f"{where} has unknown field(s) {', '.join(unknown)}")


def _check_version(document: dict[str, Any]) -> int:
    if "format" not in document:
        raise _Invalid("not a mipro artifact (no 'format' field)")
    if document["format"] != FORMAT:
        raise _Invalid(f"not a mipro program-state artifact (format {document['format']!r})")
    version = _expect(document.get("schema_version"), int, "schema_version", "an integer")
    if version > SCHEMA_VERSION:
        raise _Invalid(
            f"schema version {version} was written by a newer mipro; this mipro "
            f"({__version__}) reads version {SCHEMA_VERSION} - upgrade mipro-core"
        )
    if version < SCHEMA_VERSION:
        raise _Invalid(
            f"schema version {version} is older than any this mipro ({__version__}) reads "
            f"(version {SCHEMA_VERSION})"
        )
    return int(version)


def _parse_time(value: Any) -> datetime:
    text = _expect(value, str, "created_at", "a string")
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise _Invalid(f"created_at {text[:40]!r} is not an ISO 8601 timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _module_names(value: Any) -> list[str]:
    names = _expect(value, list, "module_names", "an array of module names")
    if not names:
        raise _Invalid("module_names is empty")
    for name in names:
        if not isinstance(name, str) or not name:
            raise _Invalid(f"module_names holds {name!r}, not a non-empty string")
    if len(set(names)) != len(names):
        raise _Invalid("module_names lists a module twice")
    return list(names)


def _demo(value: Any, where: str) -> Demo:
    demo = _expect(value, dict, where, "an object")
    _check_fields(demo, _DEMO_FIELDS, where)
    return Demo(
        inputs=_expect(demo["inputs"], dict, f"{where}.inputs", "an object"),
        outputs=_expect(demo["outputs"], dict, f"{where}.outputs", "an object"),
        source=_expect(demo["source"], str, f"{where}.source", "a string"),
    )


def _module_state(value: Any, name: str) -> ModuleState:
    where = f"modules[{name!r}]"
    module = _expect(value, dict, where, "an object")
    _check_fields(module, _MODULE_FIELDS, where)
    instruction = _expect(module["instruction"], str, f"{where}.instruction", "a string")
    demos = _expect(module["demos"], list, f"{where}.demos", "an array")
    parsed: tuple[Demo, ...] = tuple(_demo(d, f"{where}.demos[{i}]") for i, d in enumerate(demos))
    return ModuleState(instruction, parsed)


def _from_document(document: Any) -> Artifact:
    top = _expect(document, dict, "the top level", "an object")
    version = _check_version(top)
    _check_fields(top, _TOP_FIELDS, "the artifact")
    _json_value(top, "the artifact")  # depth, text and number checks over everything
    names = _module_names(top["module_names"])
    modules = _expect(top["modules"], dict, "modules", "an object")
    if set(modules) != set(names):
        listed_only = sorted(set(names) - set(modules))
        stored_only = sorted(set(modules) - set(names))
        raise _Invalid(
            "modules and module_names disagree: "
            f"listed without a state {listed_only}, stored but not listed {stored_only}"
        )
    state = ProgramState({name: _module_state(modules[name], name) for name in names})
    return Artifact(
        state=state,
        metadata=_expect(top["metadata"], dict, "metadata", "an object"),
        schema_version=version,
        library_version=_expect(top["library_version"], str, "library_version", "a string"),
        created_at=_parse_time(top["created_at"]),
    )
