"""Reading a data file (JSONL, CSV, TSV) into a :class:`Table` of rows, each with its line.

Every problem is an :class:`~mipro_core.InvalidInputError` naming the file, and the line for a
bad row (``train.jsonl:7: invalid JSON ...``). Which columns are inputs and outputs is decided
later (:mod:`mipro_core._data_files`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from . import _strict_json as strict_json
from ._errors import InvalidInputError

Kind = Literal["jsonl", "csv", "tsv"]

_SUFFIXES: dict[str, Kind] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv"}
_NESTED_KEYS = frozenset({"inputs", "outputs", "id"})
_LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e]")
"""What ends a JSONL line: the line breaks of :meth:`str.splitlines` that JSON forbids inside a
string (U+0085, U+2028 and U+2029 are allowed there unescaped, so they end no line)."""
MAX_DEPTH = 100
"""The deepest nesting of a data row (as for artifacts): deeper values are refused when read,
not when a journal holding them fails to read back."""
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]", re.ASCII)


@attrs.frozen
class Row:
    """One data row and the line of the file it starts on."""

    line: int
    values: Mapping[str, Any]


@attrs.frozen
class Table:
    """The rows of a data file. ``nested`` when the rows are ``{"inputs", "outputs"}`` objects."""

    path: Path
    kind: Kind
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    nested: bool = False


def data_kind(path: Path, head: bytes) -> Kind:
    """The format of a data file, from its suffix (or its first character when unknown)."""
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is not None:
        return kind
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start == b"{":
        return "jsonl"
    hint = " (it looks like a JSON array: write one object per line)" if start == b"[" else ""
    raise InvalidInputError(
        f"{path}: unknown data file type{hint}; use .jsonl (one JSON object per line) or "
        ".csv (a header row, then one example per row)"
    )


def read_table(path: str | Path) -> Table:
    """Read the rows of a JSONL, CSV or TSV file (raises :class:`InvalidInputError`)."""
    source = Path(path)
    if not source.exists():
        raise InvalidInputError(f"{source}: no such file")
    if not source.is_file():
        raise InvalidInputError(f"{source}: not a regular file")
    data = source.read_bytes()
    kind = data_kind(source, data[:64])
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise InvalidInputError(
            f"{source}:{line}: a NUL byte: this is not UTF-8 text (a UTF-16 file or a binary "
            "one?); save the file as UTF-8"
        )
    text = _decode(source, data)
    table = _read_jsonl(source, text) if kind == "jsonl" else _read_csv(source, text, kind)
    if not table.rows:
        raise InvalidInputError(_empty_message(source, kind, has_header=bool(table.columns)))
    return table


def _empty_message(path: Path, kind: Kind, *, has_header: bool) -> str:
    if kind == "jsonl":
        return f'{path} is empty: it needs one JSON object per line, e.g. {{"question": ...}}'
    if has_header:
        return f"{path} has a header row but no data rows"
    return f"{path} is empty: it needs a header row naming the columns, then one row per example"


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidInputError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        ) from None


def _read_jsonl(path: Path, text: str) -> Table:
    rows: list[Row] = []
    columns: dict[str, None] = {}
    nested: bool | None = None
    for number, line in enumerate(_LINE_BREAK.split(text), 1):
        if not line.strip():
            continue
        try:
            value = strict_json.loads(line, finite=False)  # 1e999 reads as inf, as before
        except ValueError as exc:  # JSONDecodeError is a ValueError
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            where = f" at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
            raise InvalidInputError(f"{path}:{number}: invalid JSON ({reason}{where})") from None
        except RecursionError:
            raise InvalidInputError(f"{path}:{number}: invalid JSON (nested too deeply)") from None
        if _SURROGATE_ESCAPE.search(line):
            _check_surrogates(path, number, value)
        if line.count("[") + line.count("{") > MAX_DEPTH and _too_deep(value):
            raise InvalidInputError(
                f"{path}:{number}: a value nested more than {MAX_DEPTH} levels deep (the journal "
                "and the prompts could not hold it)"
            )
        if not isinstance(value, dict):
            raise InvalidInputError(
                f"{path}:{number}: expected a JSON object (one example per line), "
                f"got a {json_type(value)}"
            )
        row_nested = _is_nested(value)
        if nested is None:
            nested = row_nested
        elif row_nested != nested:
            first = "{'inputs': ..., 'outputs': ...} objects" if nested else "flat objects"
            raise InvalidInputError(
                f"{path}:{number}: this row's shape differs from the first row's ({first}); "
                "use one shape for the whole file"
            )
        if row_nested:
            _check_nested(path, number, value)
        columns.update(dict.fromkeys(value))
        rows.append(Row(number, value))
    return Table(path, "jsonl", tuple(columns), tuple(rows), nested=bool(nested))


def _depth(value: Any) -> int:
    """How many arrays and objects deep ``value`` nests (iteratively: no recursion limit)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in item)
    return deepest


def _too_deep(row: Any) -> bool:
    """Whether a field of ``row`` nests deeper than :data:`MAX_DEPTH`."""
    return isinstance(row, dict) and max(map(_depth, row.values()), default=0) > MAX_DEPTH


def _check_surrogates(path: Path, number: int, value: Any) -> None:
    """Refuse a row holding a lone UTF-16 surrogate (``"\\ud800"``): not text any model or
    journal can take."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(
            f"{path}:{number}: a lone UTF-16 surrogate escape (\\ud800-\\udfff without its "
            "pair) is not text; fix the escape"
        ) from None


def json_type(value: Any) -> str:
    names = {list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _is_nested(value: Mapping[str, Any]) -> bool:
    return isinstance(value.get("inputs"), dict) and set(value) <= _NESTED_KEYS


def _check_nested(path: Path, number: int, value: Mapping[str, Any]) -> None:
    outputs = value.get("outputs", {})
    if not isinstance(outputs, dict):
        raise InvalidInputError(
            f"{path}:{number}: 'outputs' must be a JSON object, got a {json_type(outputs)}"
        )
    if "id" in value and (isinstance(value["id"], bool) or not isinstance(value["id"], (str, int))):
        raise InvalidInputError(f"{path}:{number}: 'id' must be a string or a number")


def _read_csv(path: Path, text: str, kind: Kind) -> Table:
    # strict: an unclosed quote is an error, not the rest of the file swallowed into one cell
    delimiter = "\t" if kind == "tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    with _field_limit(len(text)):
        return _csv_rows(path, reader, kind)


_FIELD_LIMIT_LOCK = threading.Lock()


@contextlib.contextmanager
def _field_limit(size: int) -> Iterator[None]:
    """The csv module's (process-wide) field size limit raised to ``size`` for the block: a
    cell of a long context is data, not the 128 KiB default's error."""
    with _FIELD_LIMIT_LOCK:  # two threads reading files must not restore each other's limit
        before = csv.field_size_limit()
        csv.field_size_limit(max(before, size))
        try:
            yield
        finally:
            csv.field_size_limit(before)


def _csv_rows(path: Path, reader: Any, kind: Kind) -> Table:
    rows: list[Row] = []
    header: list[str] | None = None
    line = 1
    try:
        for record in reader:
            start, line = line, reader.line_num + 1
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            if header is None:
                header = _check_header(path, start, record)
                continue
            if len(record) != len(header):
                raise InvalidInputError(
                    f"{path}:{start}: this row has {len(record)} field(s), the header has "
                    f"{len(header)} ({', '.join(header)})"
                )
            rows.append(Row(start, dict(zip(header, record, strict=True))))
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):  # the record that starts on `line`
            raise InvalidInputError(
                f"{path}:{line}: malformed CSV (a quoted field of this row is never closed: "
                "it would take in every line after it)"
            ) from None
        raise InvalidInputError(
            f"{path}:{reader.line_num}: malformed CSV ({exc}): a cell that starts with a quote "
            'must be quoted whole, with inner quotes doubled (""), e.g. """quoted"" then '
            'text"; or start the cell with something other than a quote'
        ) from None
    return Table(path, kind, tuple(header or ()), tuple(rows))


def _check_header(path: Path, line: int, record: list[str]) -> list[str]:
    header = [name.strip() for name in record]
    for position, name in enumerate(header, 1):
        if not name:
            raise InvalidInputError(
                f"{path}:{line}: the header row has an empty column name (column {position})"
            )
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise InvalidInputError(f"{path}:{line}: the header row repeats column(s) {duplicates}")
    return header
