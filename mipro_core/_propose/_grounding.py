"""Grounding for the proposer: a data summary (once per run) and program/module descriptions
(once per module, never per candidate)."""

from __future__ import annotations

import concurrent.futures as cf
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
    chains: int = 1,
) -> str:
    """Observe batches of training data (stopping early on COMPLETE), then summarize.

    Each observation call sees the observations before it, so the batches are a chain of
    sequential calls. ``chains`` > 1 splits the batches into that many contiguous chains that
    run at once (each sees only its own earlier observations); the summary reads all of them in
    batch order, so the result depends on ``chains`` but never on thread timing. Once ``stop``
    is set (the run failed or was interrupted elsewhere) no further call is made and the summary
    is abandoned (empty).
    """
    batches = [trainset[b * batch_size : (b + 1) * batch_size] for b in range(max_batches)]
    groups = _split([b for b in batches if b], chains)
    if len(groups) <= 1:
        observations = _observe_chain(client, groups[0] if groups else [], temperature, stop)
    else:
        with cf.ThreadPoolExecutor(len(groups), thread_name_prefix="mipro-summary") as pool:
            chained = pool.map(lambda g: _observe_chain(client, g, temperature, stop), groups)
            observations = [text for chain in chained for text in chain]
    if not observations or (stop is not None and stop.is_set()):
        return ""
    summary = client.ask(
        "summarize_data",
        SUMMARIZE,
        {"observations": "\n".join(observations)},
        temperature=temperature,
    )["summary"]
    return summary.strip()


def _split(batches: Sequence[Sequence[Example]], chains: int) -> list[list[Sequence[Example]]]:
    """``batches`` in at most ``chains`` contiguous groups of near-equal length, in order."""
    count = max(1, min(chains, len(batches)))
    size, extra = divmod(len(batches), count)
    groups, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        groups.append(list(batches[start:end]))
        start = end
    return [g for g in groups if g]


def _observe_chain(
    client: ProposerClient,
    batches: Sequence[Sequence[Example]],
    temperature: float,
    stop: threading.Event | None,
) -> list[str]:
    """The observations of one chain of batches, each call seeing the chain's earlier ones."""
    observations: list[str] = []
    for batch in batches:
        if stop is not None and stop.is_set():
            return []
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
    return observations


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
