"""Data files for `mipro optimize`: JSONL and CSV rows as Examples, with one-line errors."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mipro_core import Example, InvalidInputError
from mipro_core._data_files import (
    Columns,
    ProgramFields,
    choose_columns,
    load_dataset,
    program_fields,
    read_table,
)
from mipro_core.testing import SimulatedLM, load_task

QA = ProgramFields(inputs=("question",), outputs=("answer",))


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def jsonl(path: Path, rows: list[Any]) -> Path:
    return write(path, "".join(json.dumps(row) + "\n" for row in rows))


def error_of(path: Path, fields: ProgramFields = QA, **kwargs: Any) -> str:
    with pytest.raises(InvalidInputError) as info:
        load_dataset(path, fields, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- program fields ----------------------------------------------------------------------------


def test_program_fields_are_what_stages_read_and_no_stage_writes() -> None:
    task = load_task("multihop_qa")
    fields = program_fields(task.make_program(SimulatedLM()))
    # `context` is fed by the program's own retrieval code; only columns present are used
    assert fields == ProgramFields(("context", "question"), ("answer",))


def test_a_program_may_declare_its_input_fields() -> None:
    program = load_task("rule_qa").make_program(SimulatedLM())

    class Declared:
        modules = program.modules
        input_fields = ("query",)

    assert program_fields(Declared()).inputs == ("query",)  # type: ignore[arg-type]
    assert program_fields(Declared()).declared  # type: ignore[arg-type]


def test_a_program_that_declares_its_inputs_takes_exactly_those_names(tmp_path: Path) -> None:
    """A query engine takes ``query``: a ``question`` column cannot be mapped onto it."""
    engine = ProgramFields(inputs=("query",), outputs=("answer",), declared=True)
    path = jsonl(tmp_path / "train.jsonl", [{"question": "q?", "answer": "a"}] * 3)
    assert "rename the input column to 'query'" in error_of(path, engine)
    message = error_of(path, engine, inputs=["question"])
    assert "takes exactly the input(s) query" in message and "rename" in message


# --- JSONL -------------------------------------------------------------------------------------


def test_flat_jsonl_rows_split_into_program_inputs_and_labels(tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "train.jsonl",
        [
            {"id": 7, "question": "Who?", "answer": "me", "difficulty": 2},
            {"id": "b", "question": "Where?", "answer": "here", "difficulty": 1},
        ],
    )
    data = load_dataset(path, QA)
    assert data.columns == Columns(("question",), ("answer", "difficulty"), "id")
    assert data.examples == (
        Example({"question": "Who?"}, {"answer": "me", "difficulty": 2}, id="7"),
        Example({"question": "Where?"}, {"answer": "here", "difficulty": 1}, id="b"),
    )


def test_blank_lines_and_a_byte_order_mark_are_accepted(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", '\ufeff{"question": "a?", "answer": "b"}\n\n  \n')
    assert [dict(e.inputs) for e in load_dataset(path, QA).examples] == [{"question": "a?"}]


def test_example_objects_carry_their_own_split(tmp_path: Path) -> None:
    examples = [Example({"q": "x"}, {"a": [1, 2]}), Example({"q": "y", "ctx": None}, {})]
    path = jsonl(tmp_path / "ex.jsonl", [e.to_dict() for e in examples])
    data = load_dataset(path, QA)
    assert data.examples == tuple(examples)
    assert data.columns == Columns(("q", "ctx"), ("a",))
    assert "apply only to flat rows" in error_of(path, inputs=["q"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"question": "a?", "answer": "b"}\n{"question": "c?" "answer": "d"}\n',
            ":2: invalid JSON",
        ),
        ('{"question": "a?", "answer": "b"}\n["c?", "d"]\n', ":2: expected a JSON object"),
        ('\n{"question": "a?", "question": "b?"}\n', ":2: invalid JSON (duplicate key 'question')"),
        (
            '{"question": "a?", "answer": NaN}\n',
            ":1: invalid JSON (NaN is not a valid JSON number)",
        ),
        (
            '{"inputs": {"question": "a?"}}\n{"question": "b?", "answer": "c"}\n',
            ":2: this row's shape differs",
        ),
        ('{"inputs": {"question": "a?"}, "outputs": 3}\n', ":1: 'outputs' must be a JSON object"),
        (
            '{"question": "a?", "answer": "b"}\n{"question": "c?"}\n',
            ":2: missing field(s) ['answer']",
        ),
        ('{"id": 1, "question": "a?"}\n{"id": "1", "question": "b?"}\n', ":2: duplicate id '1'"),
        ('{"id": [1], "question": "a?"}\n', ":1: 'id' must be a string or a number"),
    ],
)
def test_a_bad_row_names_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path / "train.jsonl", text)
    message = error_of(path)
    assert message.startswith(str(path)) and expected in message


def test_non_utf8_text_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", b'{"question": "a"}\n{"question": "\xff"}\n')
    assert error_of(path).startswith(f"{path}:2: not UTF-8 text")


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("empty.jsonl", "", "is empty: it needs one JSON object per line"),
        ("blank.jsonl", "\n \n", "is empty"),
        ("empty.csv", "", "is empty: it needs a header row"),
        ("header.csv", "question,answer\n", "has a header row but no data rows"),
        ("data.txt", "question answer\n", "unknown data file type"),
        ("data.json", '[{"question": "a"}]', "looks like a JSON array"),
    ],
)
def test_empty_or_unknown_files_are_one_clear_error(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    assert expected in error_of(write(tmp_path / name, text))


def test_a_missing_file_or_a_directory_is_named(tmp_path: Path) -> None:
    assert error_of(tmp_path / "nope.jsonl").endswith("nope.jsonl: no such file")
    assert error_of(tmp_path).endswith("not a regular file")


def test_unknown_suffix_starting_with_an_object_is_read_as_jsonl(tmp_path: Path) -> None:
    path = write(tmp_path / "data.txt", '{"question": "a?", "answer": "b"}\n')
    assert len(load_dataset(path, QA).examples) == 1


# --- CSV ---------------------------------------------------------------------------------------


def test_csv_rows_are_strings_with_the_header_as_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", 'question,answer\n"Who, really?",me\n\nWhere?,""\n')
    data = load_dataset(path, QA)
    assert [(dict(e.inputs), dict(e.outputs)) for e in data.examples] == [
        ({"question": "Who, really?"}, {"answer": "me"}),
        ({"question": "Where?"}, {"answer": ""}),
    ]


def test_tsv_files_split_on_tabs(tmp_path: Path) -> None:
    path = write(tmp_path / "t.tsv", "question\tanswer\na, b?\tc\n")
    assert dict(load_dataset(path, QA).examples[0].inputs) == {"question": "a, b?"}


def test_csv_row_errors_name_the_line_the_row_starts_on(tmp_path: Path) -> None:
    # the second record spans two physical lines; the bad record starts on line 4
    path = write(tmp_path / "t.csv", 'question,answer\n"two\nlines",x\nonly-one-field\n')
    assert error_of(path).startswith(f"{path}:4: this row has 1 field(s), the header has 2")


@pytest.mark.parametrize(
    ("header", "expected"),
    [("question,,answer", "empty column name (column 2)"), ("a,answer,a", "repeats column(s)")],
)
def test_csv_header_problems(tmp_path: Path, header: str, expected: str) -> None:
    path = write(tmp_path / "t.csv", f"{header}\n1,2,3\n")
    message = error_of(path)
    assert message.startswith(f"{path}:1:") and expected in message


# --- choosing the columns ----------------------------------------------------------------------


def test_explicit_columns_and_their_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "q,gold,notes\nx,y,z\n")
    data = load_dataset(path, QA, inputs=["q"], outputs=["gold"])
    assert data.examples == (Example({"q": "x"}, {"gold": "y"}),)  # notes is left out
    assert "none of its columns (q, gold, notes) is an input" in error_of(path)
    assert "--inputs names column(s) ['question'] that" in error_of(path, inputs=["question"])
    assert "--outputs names column(s) ['answer']" in error_of(
        path, inputs=["q"], outputs=["answer"]
    )
    assert "named by both --inputs and --outputs" in error_of(path, inputs=["q"], outputs=["q"])
    assert "more than once" in error_of(path, inputs=["q", "q"])


def test_a_validation_file_must_have_the_training_columns(tmp_path: Path) -> None:
    train = jsonl(tmp_path / "train.jsonl", [{"question": "a?", "answer": "b"}])
    val = write(tmp_path / "val.csv", "question,gold\na?,b\n")
    columns = load_dataset(train, QA).columns
    message = error_of(val, inputs=columns.inputs, outputs=columns.outputs, like=train)
    assert message == (
        f"{val} lacks column(s) ['answer'] that {train} has; its columns are ['question', 'gold']"
    )


def test_id_column_named_as_an_input_is_not_the_example_id(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "t.jsonl", [{"id": "x", "answer": "b"}])
    table = read_table(path)
    assert choose_columns(table, QA, inputs=["id"]) == Columns(("id",), ("answer",), None)


# --- round trip --------------------------------------------------------------------------------

names = st.text(string.ascii_lowercase + "_", min_size=1, max_size=8)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def flat_examples(draw: st.DrawFn) -> tuple[list[str], list[str], list[Example]]:
    fields = draw(
        st.lists(
            names.filter(lambda n: n not in ("id", "inputs", "outputs")),
            min_size=2,
            max_size=5,
            unique=True,
        )
    )
    cut = draw(st.integers(1, len(fields) - 1))
    inputs, outputs = fields[:cut], fields[cut:]
    rows = draw(st.lists(st.tuples(*(json_values for _ in fields)), min_size=1, max_size=6))
    examples = [
        Example(
            dict(zip(inputs, row[:cut], strict=True)), dict(zip(outputs, row[cut:], strict=True))
        )
        for row in rows
    ]
    return inputs, outputs, examples


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=flat_examples())
def test_flat_jsonl_round_trips(
    tmp_path: Path, case: tuple[list[str], list[str], list[Example]]
) -> None:
    inputs, outputs, examples = case
    path = jsonl(tmp_path / "rt.jsonl", [{**e.inputs, **e.outputs} for e in examples])
    data = load_dataset(path, QA, inputs=inputs, outputs=outputs)
    assert data.examples == tuple(examples)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    examples=st.lists(
        st.builds(
            Example,
            st.dictionaries(names, json_values, min_size=1, max_size=3),
            st.dictionaries(names, json_values, max_size=3),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_example_objects_round_trip_with_their_ids(tmp_path: Path, examples: list[Example]) -> None:
    path = jsonl(tmp_path / "rt.jsonl", [e.to_dict() for e in examples])
    loaded = load_dataset(path, QA).examples
    assert loaded == tuple(examples)
    assert [e.id for e in loaded] == [e.id for e in examples]
