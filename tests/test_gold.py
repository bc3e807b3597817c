"""Which gold field labeled demos take for a module output named otherwise (``_gold``)."""

from __future__ import annotations

import logging

import attrs
import pytest

import mipro_core as mc
from mipro_core._gold import resolve_outputs
from mipro_core._types import ModuleState, Signature


@attrs.define
class _Module:
    name: str
    signature: Signature
    state: ModuleState = attrs.field(factory=lambda: ModuleState(""))


@attrs.define
class _RawTextModule(_Module):
    output_is_raw_text: bool = True


EXAMPLES = [mc.Example({"q": "x"}, {"label": "yes"}, id="a")]


@pytest.mark.parametrize(
    ("module", "mapped"),
    [
        (_RawTextModule("m", Signature(("q",), ("text",))), True),
        (_RawTextModule("m", Signature(("q",), ("text",)), output_is_raw_text=False), False),
        (_Module("m", Signature(("q",), ("text",))), False),  # an adapter that does not say
    ],
)
def test_only_a_raw_text_output_takes_the_one_gold_field(
    module: _Module, mapped: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mipro_core"):
        found = resolve_outputs({"m": module}, EXAMPLES, warn=True)
    assert found == ({"m": {"text": "label"}} if mapped else {})
    warnings = [r.getMessage() for r in caplog.records]
    if mapped:
        assert not warnings
    else:
        (message,) = warnings
        assert "{'m': ['text']}" in message and "['label']" in message
        assert "outputs=" in message and "--map-output" in message


def test_the_outputs_option_maps_whatever_the_module_says() -> None:
    module = _Module("m", Signature(("q",), ("text",)))
    assert resolve_outputs({"m": module}, EXAMPLES, (("m", "label"),)) == {"m": {"text": "label"}}


def test_a_native_stage_is_not_mapped_automatically(caplog: pytest.LogCaptureFixture) -> None:
    # the stage's fields are the names its author chose: a differently named gold field is
    # theirs to map (outputs=), not a guess of ours
    from mipro_core.native import Stage
    from mipro_core.testing import SimulatedLM

    stage = Stage("answer", "q -> text", lm=SimulatedLM())
    with caplog.at_level(logging.WARNING, logger="mipro_core"):
        assert resolve_outputs({"answer": stage}, EXAMPLES, warn=True) == {}
    assert "outputs=" in caplog.text
