"""Artifacts: versioned, diffable JSON that round-trips and rejects every hostile file."""

from __future__ import annotations

import builtins
import copy
import json
import os
import pickle
import stat
import tempfile
from datetime import timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mipro_core
from mipro_core import (
    Artifact,
    ArtifactError,
    Demo,
    InvalidInputError,
    ModuleState,
    ProgramState,
    current_state,
    load_state,
    read_artifact,
    save_state,
)
from mipro_core import _artifact as artifact_module
from mipro_core.native import NativeProgram, Stage


def lm(messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
    return ["answer: x"] * n


def program() -> NativeProgram:
    stages = [
        Stage("zeta", "question -> query", "Write a query.", lm=lm),
        Stage("alpha", "question, query -> answer", "Answer.", lm=lm),
    ]
    return NativeProgram(stages, lambda s, x: s["alpha"](question=x["question"], query="q"))


STATE = ProgramState(
    {
        "zeta": ModuleState("Write a {query}.\nTwo lines, ünïcode ✓", ()),
        "alpha": ModuleState(
            "Answer.",
            (
                Demo({"question": "q?", "query": "k"}, {"answer": "a"}, "bootstrapped"),
                Demo({"question": 'x "y"', "query": ["l", 1]}, {"answer": None}, "labeled"),
            ),
        ),
    }
)


def valid_document() -> dict[str, Any]:
    return json.loads(artifact_module.dumps_state(STATE, {"score": 0.5}))


def write(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "artifact.json"
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


# --- saving ----------------------------------------------------------------------------------


def test_save_writes_pretty_sorted_versioned_json(tmp_path: Path) -> None:
    meta = {"score": 0.63, "baseline_score": 0.41, "seed": 7, "note": "é"}
    path = save_state(tmp_path / "a.json", STATE, meta)
    assert path == tmp_path / "a.json"
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n") and not text.endswith("\n\n")
    document = json.loads(text)
    assert text == json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert document["format"] == "mipro.program_state"
    assert document["schema_version"] == 1
    assert document["library_version"] == mipro_core.__version__
    assert document["module_names"] == ["zeta", "alpha"]  # program order, not sorted
    assert document["metadata"] == meta
    assert document["modules"]["alpha"]["demos"][0] == {
        "inputs": {"question": "q?", "query": "k"},
        "outputs": {"answer": "a"},
        "source": "bootstrapped",
    }
    assert "ünïcode ✓" in text  # readable, not \u-escaped
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temp file left


def test_round_trip_keeps_state_order_and_metadata(tmp_path: Path) -> None:
    path = save_state(str(tmp_path / "a.json"), STATE, {"score": 1, "nested": {"k": [1.5]}})
    loaded = read_artifact(path)
    assert isinstance(loaded, Artifact)
    assert loaded.state == STATE and loaded.state.names() == ("zeta", "alpha")
    assert load_state(path) == STATE
    assert dict(loaded.metadata) == {"score": 1, "nested": {"k": [1.5]}}
    assert loaded.schema_version == 1 and loaded.library_version == mipro_core.__version__
    assert loaded.created_at.tzinfo is not None
    assert loaded.created_at.utcoffset() == timezone.utc.utcoffset(None)


def test_save_overwrites_atomically_and_cleans_up_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_state(tmp_path / "a.json", STATE, {"run": 1})
    save_state(path, STATE, {"run": 2})
    assert read_artifact(path).metadata["run"] == 2

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(artifact_module.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_state(path, STATE, {"run": 3})
    assert read_artifact(path).metadata["run"] == 2  # the old artifact is intact
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


@pytest.mark.parametrize(
    ("state", "metadata", "reason"),
    [
        (STATE, {"score": float("nan")}, "finite"),
        (STATE, {"score": float("inf")}, "finite"),
        (STATE, {1: "x"}, "non-string key"),
        (STATE, {"obj": object()}, "JSON cannot represent"),
        (STATE, {"text": "\ud800"}, "surrogate"),
        (ProgramState({"m": ModuleState("i", (Demo({"x": {1, 2}}, {}),))}), None, "set"),
        (ProgramState({}), None, "no modules"),
        (ProgramState({"": ModuleState("i")}), None, "module name"),
        ({"m": "not a state"}, None, "ProgramState"),
        (STATE, ["not", "a", "mapping"], "mapping"),
    ],
)
def test_save_rejects_content_json_cannot_hold(
    tmp_path: Path, state: Any, metadata: Any, reason: str
) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        save_state(tmp_path / "a.json", state, metadata)
    assert list(tmp_path.iterdir()) == []


def test_save_creates_a_missing_directory(tmp_path: Path) -> None:
    path = save_state(tmp_path / "missing" / "deeper" / "a.json", STATE)
    assert load_state(path) == STATE


def test_save_follows_a_symlink_and_never_replaces_a_device(tmp_path: Path) -> None:
    real, link = tmp_path / "real.json", tmp_path / "link.json"
    real.write_text("old")
    link.symlink_to(real)
    save_state(link, STATE)
    assert link.is_symlink() and load_state(real) == STATE
    save_state(os.devnull, STATE)  # `--out /dev/null` must not turn the device into a file
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    with pytest.raises(IsADirectoryError):
        save_state(tmp_path, STATE)


# --- loading: hostile and broken files -------------------------------------------------------


def _mutated(change: Any) -> str:
    document = valid_document()
    change(document)
    return json.dumps(document)


def _top(**fields: Any) -> str:
    return _mutated(lambda d: d.update(fields))


def _module(name: str, **fields: Any) -> str:
    return _mutated(lambda d: d["modules"][name].update(fields))


def _demo(**fields: Any) -> str:
    return _mutated(lambda d: d["modules"]["alpha"]["demos"][0].update(fields))


def _score(literal: str) -> str:
    """A valid artifact whose metadata score is the raw JSON text ``literal``."""
    return _top(metadata={"score": "@@"}).replace('"@@"', literal)


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


BAD_FILES: list[tuple[str, str | bytes, str]] = [
    ("empty", b"", "empty"),
    ("whitespace", b"  \n", "empty"),
    ("not-json", b"hello", "not valid JSON"),
    ("truncated", artifact_module.dumps_state(STATE)[:-40], "truncated"),
    ("not-utf8", b'{"format": "\xff"}', "not UTF-8"),
    ("array", b"[1, 2]", "top level must be an object"),
    ("pickle", pickle.dumps(STATE.to_dict()), "not"),
    ("no-format", b"{}", "no 'format'"),
    ("other-format", _top(format="other"), "format 'other'"),
    ("newer", _top(schema_version=2), "newer mipro"),
    ("older", _top(schema_version=0), "older"),
    ("version-string", _top(schema_version="1"), "integer"),
    ("version-bool", _top(schema_version=True), "integer"),
    ("version-float", _top(schema_version=1.0), "integer"),
    ("unknown-field", _top(extra=1), "unknown field(s) extra"),
    ("missing-field", _mutated(lambda d: d.pop("metadata")), "lacks field(s) metadata"),
    ("nan", _score("NaN"), "NaN"),
    ("infinity", _score("-Infinity"), "Infinity"),
    ("overflow", _score("1e999"), "out of range"),
    ("huge-int", _score("9" * 5000), "unreadable"),
    ("duplicate-key", _score('1, "score": 2'), "duplicate key 'score'"),
    ("surrogate", _score('"\\ud800"'), "surrogate"),
    ("deep", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("deep-metadata", _top(metadata={"s": _nested(150)}), "nested more than"),
    ("names-not-list", _top(module_names="zeta"), "module_names must be"),
    ("names-empty", _top(module_names=[], modules={}), "module_names is empty"),
    ("names-dup", _top(module_names=["zeta", "zeta"]), "twice"),
    ("names-bad", _top(module_names=["zeta", 3]), "not a non-empty string"),
    ("names-mismatch", _top(module_names=["zeta", "beta"]), "disagree"),
    ("module-not-object", _mutated(lambda d: d["modules"].update(zeta=[])), "must be an object"),
    ("module-extra", _module("zeta", x=1), "unknown field(s) x"),
    ("instruction-type", _module("zeta", instruction=1), "instruction must be a string"),
    ("demos-type", _module("zeta", demos={}), "demos must be an array"),
    ("demo-type", _module("alpha", demos=[1]), "demos[0] must be an object"),
    ("demo-inputs", _demo(inputs=[]), "inputs must be an object"),
    ("demo-source", _demo(source=None), "source must be a string"),
    ("demo-missing", _mutated(lambda d: d["modules"]["alpha"]["demos"][0].pop("outputs")), "lacks"),
    ("metadata-type", _top(metadata=[]), "metadata must be an object"),
    ("library-version", _top(library_version=1), "library_version must be"),
    ("created-type", _top(created_at=0), "created_at must be"),
    ("created-bad", _top(created_at="yesterday"), "ISO 8601"),
]


@pytest.mark.parametrize(
    ("content", "reason"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_bad_files_raise_artifact_error_naming_path_and_reason(
    tmp_path: Path, content: str | bytes, reason: str
) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ArtifactError) as info:
        load_state(path)
    message = str(info.value)
    assert str(path) in message
    assert reason in message, message
    assert "\n" not in message


def test_newer_version_message_says_upgrade(tmp_path: Path) -> None:
    path = write(tmp_path, _top(schema_version=7))
    with pytest.raises(ArtifactError, match=r"schema version 7 .* upgrade mipro-core"):
        read_artifact(path)


def test_bom_and_z_timestamps_are_accepted(tmp_path: Path) -> None:
    text = _top(created_at="2025-01-31T12:00:00Z")
    loaded = read_artifact(write(tmp_path, b"\xef\xbb\xbf" + text.encode("utf-8")))
    assert loaded.state == STATE
    assert loaded.created_at.year == 2025 and loaded.created_at.tzinfo is not None


def test_oversized_file_is_rejected_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, artifact_module.dumps_state(STATE))
    monkeypatch.setattr(artifact_module, "MAX_ARTIFACT_BYTES", 100)
    with pytest.raises(ArtifactError, match="larger than"):
        load_state(path)


def test_default_size_limit_is_64_mib() -> None:
    assert artifact_module.MAX_ARTIFACT_BYTES == 64 * 1024 * 1024


def test_special_files_are_refused_without_blocking(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not a regular file"):
        load_state(tmp_path)
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "fifo.json"
        os.mkfifo(fifo)
        with pytest.raises(ArtifactError, match="not a regular file"):
            load_state(fifo)


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_state(tmp_path / "nope.json")


def test_loading_executes_no_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_state(tmp_path / "a.json", STATE)

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("code execution during load")

    with monkeypatch.context() as patch:
        for target, name in [(builtins, "eval"), (builtins, "exec"), (pickle, "loads")]:
            patch.setattr(target, name, forbidden)
        patch.setattr(pickle, "load", forbidden)
        assert load_state(path) == STATE


# --- apply -----------------------------------------------------------------------------------


def test_apply_puts_saved_state_into_a_fresh_program(tmp_path: Path) -> None:
    path = save_state(tmp_path / "a.json", STATE)
    for source in (path, str(path), read_artifact(path), STATE):
        fresh = program()
        result = mipro_core.apply(fresh, source)
        assert result is fresh
        assert current_state(fresh) == STATE


def test_apply_rejects_states_for_another_program(tmp_path: Path) -> None:
    other = ProgramState({"zeta": STATE["zeta"], "gamma": ModuleState("?")})
    path = save_state(tmp_path / "other.json", other)
    fresh = program()
    before = current_state(fresh)
    with pytest.raises(ArtifactError) as info:
        mipro_core.apply(fresh, path)
    message = str(info.value)
    assert str(path) in message
    assert "missing module(s) ['alpha']" in message and "unknown module(s) ['gamma']" in message
    assert current_state(fresh) == before  # nothing applied


def test_apply_rejects_other_argument_types() -> None:
    with pytest.raises(ArtifactError, match="expected a ProgramState"):
        mipro_core.apply(program(), 42)  # type: ignore[arg-type]


# --- properties ------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers(-(10**18), 10**18) | st.text()
json_scalars |= st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
tricky_text = st.text() | st.sampled_from(
    ["", "{x}", "{{", "}", "a\nb\r\n", "\\n", '"', "\x00", "🚀"]
)
field_maps = st.dictionaries(tricky_text, json_values, max_size=3)
demos = st.builds(Demo, inputs=field_maps, outputs=field_maps, source=tricky_text)
module_states = st.builds(
    ModuleState, instruction=tricky_text, demos=st.lists(demos, max_size=3).map(tuple)
)
states = st.dictionaries(st.text(min_size=1), module_states, min_size=1, max_size=4).map(
    ProgramState
)
metadata = st.dictionaries(st.text(max_size=10), json_values, max_size=4)


@given(state=states, meta=metadata)
@settings(max_examples=60, deadline=None)
def test_round_trip_in_memory(state: ProgramState, meta: dict[str, Any]) -> None:
    loaded = artifact_module.loads_artifact(artifact_module.dumps_state(state, meta))
    assert loaded.state == state
    assert list(loaded.state) == list(state)
    assert dict(loaded.metadata) == meta


@given(state=states)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_through_files(state: ProgramState) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = save_state(Path(directory) / "a.json", state)
        assert load_state(path) == state


@given(data=st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_garbage_bytes_only_raise_artifact_error(data: bytes) -> None:
    with pytest.raises(ArtifactError):
        artifact_module.loads_artifact(data)


@given(value=json_values)
@settings(max_examples=200, deadline=None)
def test_random_json_only_raises_artifact_error(value: Any) -> None:
    with pytest.raises(ArtifactError):
        artifact_module.loads_artifact(json.dumps(value))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@given(data=st.data())
@settings(max_examples=150, deadline=None)
def test_mutated_artifacts_load_or_raise_artifact_error(data: st.DataObject) -> None:
    document = valid_document()
    paths = [p for p in _paths(document) if p]
    path = data.draw(st.sampled_from(paths))
    mutated = copy.deepcopy(document)
    parent = mutated
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()):
        parent[path[-1]] = data.draw(json_values)
    elif isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent.pop(path[-1])
    try:
        loaded = artifact_module.loads_artifact(json.dumps(mutated))
    except ArtifactError:
        return
    assert isinstance(loaded.state, ProgramState)
    assert loaded.state.names() == tuple(mutated["module_names"])


@given(cut=st.integers(min_value=0))
@settings(max_examples=100, deadline=None)
def test_every_truncation_raises_artifact_error(cut: int) -> None:
    text = artifact_module.dumps_state(STATE).rstrip()
    with pytest.raises(ArtifactError):
        artifact_module.loads_artifact(text[: cut % len(text)])
