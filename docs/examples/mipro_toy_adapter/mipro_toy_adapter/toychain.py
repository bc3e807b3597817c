"""ToyChain: a pretend LLM framework (stands in for LangChain, LlamaIndex, ...).

It knows nothing about mipro. A chain is a list of steps; each step renders a prompt from its
instruction, its few-shot examples and a ``str.format`` template, sends it to a completion model
and stores the answer under its ``output_key`` for later steps. Callers can pass callbacks to
``invoke`` to observe every model call, the way real frameworks expose tracing.
"""

from __future__ import annotations

import copy
import hashlib
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

StepCallback = Callable[[str, dict[str, Any], str], None]
"""``callback(step_name, step_inputs, completion)`` after each model call."""


class ToyLLM:
    """A fake completion model: deterministic text derived from the prompt, no network."""

    def complete(self, prompt: str) -> str:
        digest = hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:8]
        last_line = prompt.rstrip().splitlines()[-1] if prompt.strip() else ""
        return f"{last_line[-40:]} #{digest}"


@dataclass
class ToyStep:
    """One model call: ``instruction``, ``examples`` and ``template`` make the prompt."""

    name: str
    template: str
    output_key: str
    instruction: str = ""
    examples: list[dict[str, Any]] = field(default_factory=list)
    """Few-shot examples: ``{"inputs": {key: value}, "outputs": {output_key: value}}``."""

    def input_keys(self) -> tuple[str, ...]:
        keys = [f for _, f, _, _ in string.Formatter().parse(self.template) if f]
        return tuple(dict.fromkeys(keys))

    def render(self, variables: dict[str, Any]) -> str:
        parts = [self.instruction] if self.instruction else []
        for example in self.examples:
            shown = self.template.format(**example["inputs"])
            answer = example["outputs"].get(self.output_key, "")
            parts.append(f"Example:\n{shown}\n{self.output_key}: {answer}")
        parts.append(self.template.format(**{k: variables[k] for k in self.input_keys()}))
        return "\n\n".join(parts)


class ToyChain:
    """Steps run in order; each step's answer becomes a variable for the next ones."""

    def __init__(self, steps: Sequence[ToyStep], llm: ToyLLM) -> None:
        self.steps = list(steps)
        self.llm = llm

    def invoke(
        self, inputs: dict[str, Any], *, callbacks: Sequence[StepCallback] = ()
    ) -> dict[str, Any]:
        variables = dict(inputs)
        for step in self.steps:
            completion = self.llm.complete(step.render(variables))
            step_inputs = {k: variables[k] for k in step.input_keys()}
            for callback in callbacks:
                callback(step.name, step_inputs, completion)
            variables[step.output_key] = completion
        return variables

    def copy(self) -> ToyChain:
        """A copy with its own steps (the model is shared)."""
        return ToyChain([copy.deepcopy(step) for step in self.steps], self.llm)
