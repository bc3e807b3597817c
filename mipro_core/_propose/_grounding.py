"""Grounding for the proposer: a data summary (once per run) and program/module descriptions
(once per module, never per candidate)."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence

from .._types import Example, Signature
from ._client import ProposerClient

OBSERVE = Signature(("examples", "prior_observations"), ("observations",))
SUMMARIZE = Signature(("observations",), ("summary",))
DESCRIBE_PROGRAM = Signature(("program",), ("program_description",))
DESCRIBE_MODULE = Signature(("program", "program_description", "module"), ("module_description",))


def format_example(example: Example) -> str:
    fields = {**example.inputs, **example.outputs}
    return "\n".join(f"{k}: {_text(v)}" for k, v in fields.items())


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def summarize_data(
    client: ProposerClient,
    trainset: Sequence[Example],
    *,
    batch_size: int,
    max_batches: int,
    temperature: float,
    stop: threading.Event | None = None,
) -> str:
    """Observe batches of training data (stopping early on COMPLETE), then summarize.

    Once ``stop`` is set (the run failed or was interrupted elsewhere) no further call is made
    and the summary is abandoned (empty).
    """
    observations: list[str] = []
    for b in range(max_batches):
        if stop is not None and stop.is_set():
            return ""
        batch = trainset[b * batch_size : (b + 1) * batch_size]
        if not batch:
            break
        text = "\n\n".join(f"Example {i + 1}:\n{format_example(ex)}" for i, ex in enumerate(batch))
        reply = client.ask(
            "observe_data",
            OBSERVE,
            {"examples": text, "prior_observations": "\n".join(observations) or "(none yet)"},
            temperature=temperature,
        )["observations"].strip()
        if not reply or reply.upper().startswith("COMPLETE"):
            break
        observations.append(reply)
    if not observations or (stop is not None and stop.is_set()):
        return ""
    summary = client.ask(
        "summarize_data",
        SUMMARIZE,
        {"observations": "\n".join(observations)},
        temperature=temperature,
    )["summary"]
    return summary.strip()


def module_view(name: str, signature: Signature) -> str:
    return f"{name}: ({', '.join(signature.inputs)}) -> ({', '.join(signature.outputs)})"


def describe_program(
    client: ProposerClient,
    program_text: str,
    modules: Mapping[str, Signature],
    *,
    temperature: float,
) -> tuple[str, dict[str, str]]:
    """One program description, then one role description per module."""
    program_description = client.ask(
        "describe_program", DESCRIBE_PROGRAM, {"program": program_text}, temperature=temperature
    )["program_description"].strip()
    roles = {
        name: client.ask(
            "describe_module",
            DESCRIBE_MODULE,
            {
                "program": program_text,
                "program_description": program_description,
                "module": module_view(name, sig),
            },
            temperature=temperature,
        )["module_description"].strip()
        for name, sig in modules.items()
    }
    return program_description, roles
