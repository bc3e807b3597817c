"""The observe-then-propose step: a proposal that shows demos first asks what they have in common."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mipro_core import Demo, ProposerConfig, Signature
from mipro_core._propose._instructions import Grounding, ProposalSpec, propose_one


class RecordingClient:
    """Answers every proposer template with a fixed text and records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, dict[str, str]]] = []

    def ask(
        self,
        template: str,
        signature: Signature,
        inputs: Mapping[str, str],
        *,
        temperature: float,
        salt: str = "",
    ) -> dict[str, str]:
        self.asked.append((template, dict(inputs)))
        if template == "observe_module":
            return {"stage_observations": "Good queries name the person the passage mentions."}
        return {"proposed_instruction": "Search for the person the passage mentions."}


SPEC = ProposalSpec(
    module="generate_query",
    index=1,
    tip="none",
    demo_set=0,
    use_data_summary=True,
    use_program_summary=True,
    temperature=1.0,
)
SIGNATURE = Signature(("context", "question"), ("search_query",))
DEMOS = [
    [
        Demo(
            {"context": "[1] Ana founded Vey.", "question": "Where was Vey's founder born?"},
            {"search_query": "Ana birthplace"},
            source="bootstrapped",
        )
    ]
]


def _propose(config: ProposerConfig, demo_sets: Any) -> tuple[str, RecordingClient]:
    client = RecordingClient()
    text = propose_one(
        client,  # type: ignore[arg-type]
        SPEC,
        SIGNATURE,
        "Write a search query.",
        demo_sets,
        Grounding(data_summary="Two-hop questions.", program_description="Searches twice."),
        config,
    )
    return text, client


def test_demos_are_observed_before_the_instruction_is_written() -> None:
    text, client = _propose(ProposerConfig(), DEMOS)
    assert text == "Search for the person the passage mentions."
    assert [t for t, _ in client.asked] == ["observe_module", "propose_instruction"]
    observe_inputs, propose_inputs = client.asked[0][1], client.asked[1][1]
    assert "Ana birthplace" in observe_inputs["task_demos"]
    assert observe_inputs["program_description"] == "Searches twice."
    assert propose_inputs["stage_observations"] == (
        "Good queries name the person the passage mentions."
    )


def test_no_observation_call_without_demos_or_when_switched_off() -> None:
    _, client = _propose(ProposerConfig(), [])
    assert [t for t, _ in client.asked] == ["propose_instruction"]
    assert "stage_observations" not in client.asked[0][1]
    _, client = _propose(ProposerConfig(observe_demos=False), DEMOS)
    assert [t for t, _ in client.asked] == ["propose_instruction"]
    _, client = _propose(ProposerConfig(use_demos=False), DEMOS)
    assert [t for t, _ in client.asked] == ["propose_instruction"]
