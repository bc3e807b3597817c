"""Datasets from files: JSONL and CSV rows as :class:`~mipro_core.Example` objects.

Used by ``mipro optimize``. Two JSONL row shapes are read:

* **flat rows**, ``{"question": "...", "answer": "..."}``: which keys are inputs and which are
  outputs is chosen by :func:`choose_columns` — from ``--inputs`` / ``--outputs`` or inferred from
  the program (its inputs are the fields its stages read that no stage writes; every other
  column is an output, a label for the metric). A column named ``id`` is the example id;
* **example objects**, ``{"inputs": {...}, "outputs": {...}, "id": "..."}``
  (:meth:`Example.to_dict`), which carry their own split.

CSV (and TSV) files have a header row and are always flat; their values are strings. Every
problem is an :class:`~mipro_core.InvalidInputError` naming the file, and the line for a bad row
(``train.jsonl:7: invalid JSON ...``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs

from ._data_table import Kind, Row, Table, data_kind, json_type, read_table
from ._errors import InvalidInputError
from ._protocols import Program
from ._types import Example

__all__ = [
    "ID_COLUMN",
    "Columns",
    "Dataset",
    "Kind",
    "ProgramFields",
    "Row",
    "Table",
    "choose_columns",
    "data_kind",
    "load_dataset",
    "program_fields",
    "read_table",
    "to_examples",
]

ID_COLUMN = "id"
"""The column read as the example id (unless it is named as an input or output)."""


@attrs.frozen
class ProgramFields:
    """What a program reads and writes, from its modules' signatures.

    ``inputs``: every field a module reads that no module writes (in module order); ``outputs``:
    the last module's output fields. Fields fed by the program's own code between stages (a
    retrieved ``context``) also count as inputs: only columns present in the data are used.
    """

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    declared: bool = False
    """The program declares its inputs (``input_fields``): it takes exactly these, by name."""


@attrs.frozen
class Columns:
    """Which columns are the program's inputs, which are outputs, and the id column if any."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    id_column: str | None = None

    def describe(self) -> str:
        text = f"inputs: {', '.join(self.inputs) or '-'}; outputs: {', '.join(self.outputs) or '-'}"
        return text + (f"; ids: {self.id_column}" if self.id_column else "")


@attrs.frozen
class Dataset:
    """The examples read from one file and the column split used."""

    path: Path
    examples: tuple[Example, ...]
    columns: Columns


def program_fields(program: Program) -> ProgramFields:
    """The program-level input and output fields (see :class:`ProgramFields`).

    A program may declare its inputs itself with an ``input_fields`` attribute (a sequence of
    names), which wins over the signatures; an ``external_inputs`` attribute (names the program
    may take from outside) only drops the fields computed inside it.
    """
    modules = list(program.modules.values())
    declared = getattr(program, "input_fields", None)
    produced = {field for module in modules for field in module.signature.outputs}
    if isinstance(declared, Sequence) and not isinstance(declared, str):
        inputs = tuple(str(field) for field in declared)
    else:
        inputs = tuple(
            dict.fromkeys(
                field
                for module in modules
                for field in module.signature.inputs
                if field not in produced
            )
        )
        # a hint of what the program takes from outside (a LangChain chain's input schema):
        # fields computed inside the program (an ``assign``'s ``rewritten``) are no inputs;
        # an empty hint says nothing
        external = getattr(program, "external_inputs", None)
        if isinstance(external, Sequence) and not isinstance(external, str) and external:
            outside = tuple(field for field in inputs if field in external)
            inputs = outside or inputs
    outputs = tuple(modules[-1].signature.outputs) if modules else ()
    is_declared = isinstance(declared, Sequence) and not isinstance(declared, str)
    return ProgramFields(inputs, outputs, declared=is_declared)


# --- reading -----------------------------------------------------------------------------------


# --- choosing the columns ----------------------------------------------------------------------


def choose_columns(
    table: Table,
    fields: ProgramFields,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
    *,
    like: Path | None = None,
) -> Columns:
    """Which columns of ``table`` are inputs and outputs.

    ``inputs`` / ``outputs`` (from ``--inputs`` / ``--outputs``, or the split of the training
    file ``like`` when reading a validation file) must name existing columns. Otherwise the
    inputs are the columns the program reads (``fields.inputs``) and the outputs every other
    column except ``id``. A file of example objects carries its own split.
    """
    if table.nested:
        if like is None and (inputs is not None or outputs is not None):
            raise InvalidInputError(
                f"{table.path} holds {{'inputs': ..., 'outputs': ...}} objects, which name their "
                "own fields; --inputs/--outputs apply only to flat rows"
            )
        return _nested_columns(table)
    available = list(table.columns)
    if inputs is not None:
        _check_known(table, inputs, "--inputs", like)
        chosen_in = tuple(inputs)
        if fields.declared and set(chosen_in) != set(fields.inputs):
            raise InvalidInputError(
                f"the program takes exactly the input(s) {', '.join(fields.inputs)}, by name; "
                f"--inputs names {', '.join(chosen_in)}: rename the column(s) in the data"
            )
    else:
        chosen_in = tuple(c for c in available if c in fields.inputs)
        if not chosen_in:
            reads = ", ".join(fields.inputs) or "(no named fields)"
            fix = (
                f"rename the input column to {fields.inputs[0]!r}"
                if fields.declared and len(fields.inputs) == 1
                else "name the input columns with --inputs"
            )
            raise InvalidInputError(
                f"{table.path}: none of its columns ({', '.join(available)}) is an input of the "
                f"program, which reads {reads}; {fix}"
            )
    if outputs is not None:
        _check_known(table, outputs, "--outputs", like)
        both = sorted(set(outputs) & set(chosen_in))
        if both:
            raise InvalidInputError(
                f"column(s) {both} are named by both --inputs and --outputs"
                if inputs is not None
                else f"--outputs names input column(s) {both} (pass --inputs as well)"
            )
        chosen_out = tuple(outputs)
    else:
        chosen_out = tuple(c for c in available if c not in chosen_in and c != ID_COLUMN)
    taken = set(chosen_in) | set(chosen_out)
    id_column = ID_COLUMN if ID_COLUMN in available and ID_COLUMN not in taken else None
    return Columns(chosen_in, chosen_out, id_column)


def _check_known(table: Table, names: Sequence[str], flag: str, like: Path | None) -> None:
    unknown = [name for name in names if name not in table.columns]
    if unknown:
        if like is not None:
            raise InvalidInputError(
                f"{table.path} lacks column(s) {unknown} that {like} has; "
                f"its columns are {list(table.columns)}"
            )
        raise InvalidInputError(
            f"{flag} names column(s) {unknown} that {table.path} does not have; "
            f"its columns are {list(table.columns)}"
        )
    repeated = sorted({name for name in names if list(names).count(name) > 1})
    if repeated:
        raise InvalidInputError(f"{flag} names column(s) {repeated} more than once")


def _nested_columns(table: Table) -> Columns:
    inputs: dict[str, None] = {}
    outputs: dict[str, None] = {}
    for row in table.rows:
        inputs.update(dict.fromkeys(row.values["inputs"]))
        outputs.update(dict.fromkeys(row.values.get("outputs", {})))
    return Columns(tuple(inputs), tuple(outputs))


# --- examples ----------------------------------------------------------------------------------


def to_examples(table: Table, columns: Columns) -> tuple[Example, ...]:
    """The rows of ``table`` as examples; every row must have every chosen column."""
    examples: list[Example] = []
    seen: dict[str, tuple[int, Example]] = {}
    for row in table.rows:
        try:
            example = _example(table, row, columns)
        except InvalidInputError as exc:
            if str(exc).startswith(f"{table.path}:"):
                raise
            raise InvalidInputError(f"{table.path}:{row.line}: {exc}") from None
        first = seen.setdefault(example.id, (row.line, example))
        # an id column names each row once; another id (a content hash by default, or an
        # example object's own) may repeat on a copy of the same example, never on another
        named = not table.nested and columns.id_column in row.values
        if first[0] != row.line and (named or first[1] != example):
            raise InvalidInputError(
                f"{table.path}:{row.line}: duplicate id {example.id!r} (first on line {first[0]})"
                + ("" if named else " for a different example")
            )
        examples.append(example)
    return tuple(examples)


def _example(table: Table, row: Row, columns: Columns) -> Example:
    if table.nested:
        return Example.from_dict(row.values)
    missing = [c for c in (*columns.inputs, *columns.outputs) if c not in row.values]
    if missing:
        raise InvalidInputError(
            f"{table.path}:{row.line}: missing field(s) {missing}; every row needs the "
            f"columns {list(columns.inputs + columns.outputs)} ({columns.describe()})"
        )
    example_id = ""
    if columns.id_column is not None and columns.id_column in row.values:
        example_id = _id_text(table, row)
    return Example(
        {c: row.values[c] for c in columns.inputs},
        {c: row.values[c] for c in columns.outputs},
        id=example_id,
    )


def _id_text(table: Table, row: Row) -> str:
    value = row.values[ID_COLUMN]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidInputError(
            f"{table.path}:{row.line}: 'id' must be a string or a number, got a {json_type(value)}"
        )
    return str(value)


def load_dataset(
    path: str | Path,
    fields: ProgramFields,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
    *,
    like: Path | None = None,
) -> Dataset:
    """Read ``path`` and turn its rows into examples (see :func:`choose_columns`)."""
    table = read_table(path)
    columns = choose_columns(table, fields, inputs, outputs, like=like)
    return Dataset(table.path, to_examples(table, columns), columns)
