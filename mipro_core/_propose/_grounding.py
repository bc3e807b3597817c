"""Grounding for the proposer: a data summary (once per run) and program/module descriptions
(once per module, never per candidate)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence

from .._types import Example, Signature
from ._client import OVERFLOW_REPLY, ProposerClient, unless_overflow

logger = logging.getLogger("mipro_core.propose")

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

    A batch whose prompt exceeds the proposer's context window is read again in halves (a
    single example that does not fit is skipped), and the batches after it keep the smaller
    size. Once ``stop`` is set (the run failed or was interrupted elsewhere) no further call
    is made and the summary is abandoned (empty).
    """
    observations: list[str] = []
    start, calls, size = 0, 0, batch_size
    while calls < max_batches and start < len(trainset):
        if stop is not None and stop.is_set():
            return ""
        batch = trainset[start : start + size]
        text = "\n\n".join(f"Example {i + 1}:\n{format_example(ex)}" for i, ex in enumerate(batch))
        reply = client.ask(
            "observe_data",
            OBSERVE,
            {"examples": text, "prior_observations": "\n".join(observations) or "(none yet)"},
            temperature=temperature,
        )["observations"].strip()
        calls += 1
        if reply == OVERFLOW_REPLY:
            if size > 1:
                size = max(1, size // 2)
                logger.warning(
                    "the data summary's observation of %d examples exceeded the proposer's "
                    "context window: reading %d at a time",
                    len(batch),
                    size,
                )
                continue
            start += 1  # one example alone does not fit: the summary goes on without it
            continue
        if not reply or reply.upper().startswith("COMPLETE"):
            break
        observations.append(reply)
        start += len(batch)
    if not observations or (stop is not None and stop.is_set()):
        return ""
    summary = client.ask(
        "summarize_data",
        SUMMARIZE,
        {"observations": "\n".join(observations)},
        temperature=temperature,
    )["summary"]
    return unless_overflow(summary)


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
    program_description = unless_overflow(
        client.ask(
            "describe_program",
            DESCRIBE_PROGRAM,
            {"program": program_text},
            temperature=temperature,
        )["program_description"]
    )
    roles = {
        name: unless_overflow(
            client.ask(
                "describe_module",
                DESCRIBE_MODULE,
                {
                    "program": program_text,
                    "program_description": program_description,
                    "module": module_view(name, sig),
                },
                temperature=temperature,
            )["module_description"]
        )
        for name, sig in modules.items()
    }
    return program_description, roles
