"""Value types round-trip through JSON exactly (hypothesis)."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mipro_core import (
    Demo,
    Example,
    InvalidInputError,
    ModuleCall,
    ModuleState,
    ProgramState,
    Signature,
    Trace,
)

text = st.text(max_size=20)
scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), text)
value = st.recursive(
    scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
fields = st.dictionaries(text, value, max_size=4)
demos = st.builds(Demo, fields, fields, st.sampled_from(["bootstrapped", "labeled"]))
calls = st.builds(
    ModuleCall, text, fields, fields, st.dictionaries(text, st.integers(0, 10**6), max_size=2)
)
states = st.dictionaries(
    text, st.builds(ModuleState, text, st.lists(demos, max_size=3)), max_size=3
)


def through_json(data: dict[str, Any]) -> Any:
    return json.loads(json.dumps(data))


@given(fields, fields)
def test_example_round_trip_and_hash_by_content(
    inputs: dict[str, Any], outputs: dict[str, Any]
) -> None:
    example = Example(inputs, outputs)
    again = Example.from_dict(through_json(example.to_dict()))
    assert again == example and again.id == example.id
    assert hash(again) == hash(example)
    assert Example(dict(inputs), dict(outputs)).id == example.id


@given(demos)
def test_demo_round_trip(demo: Demo) -> None:
    assert Demo.from_dict(through_json(demo.to_dict())) == demo


@given(st.lists(calls, max_size=4), st.integers(0, 5))
def test_trace_round_trip(items: list[ModuleCall], unattributed: int) -> None:
    trace = Trace(items, unattributed)
    assert Trace.from_dict(through_json(trace.to_dict())) == trace
    assert trace.lm_calls == len(items) + unattributed


@given(states)
def test_program_state_round_trip(modules: dict[str, ModuleState]) -> None:
    state = ProgramState(modules)
    assert ProgramState.from_dict(through_json(state.to_dict())) == state


@given(st.lists(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), min_size=1, max_size=4))
def test_signature_parse_and_round_trip(names: list[str]) -> None:
    sig = Signature.parse(", ".join(names[:-1]) + " -> " + names[-1])
    assert sig.outputs == (names[-1],)
    assert Signature.from_dict(through_json(sig.to_dict())) == sig


def test_an_example_of_non_json_values_needs_an_explicit_id() -> None:
    with pytest.raises(InvalidInputError, match=r"\['when'\] hold values that are not JSON.*id="):
        Example({"question": "q", "when": datetime.date(2020, 1, 1)})
    given_id = Example({"question": "q", "when": datetime.date(2020, 1, 1)}, id="e1")
    assert given_id.id == "e1" and given_id.inputs["when"].year == 2020
