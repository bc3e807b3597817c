"""A tiny deterministic LM and task for engine tests (no SimulatedLM needed).

The toy task: answer a word in UPPERCASE. The model follows the rule when its system prompt says
"UPPERCASE", and each demo pair raises its chance a little; proposer requests get an instruction
that states the rule when the prompt shows uppercase examples.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import Any

from mipro_core import Example, Message
from mipro_core.native import NativeProgram, Stage


def unit(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 2**32


class ToyLM:
    def __init__(self, fail: type[BaseException] | None = None) -> None:
        self.calls = 0
        self.task_calls = 0
        self.prompts: list[str] = []
        self.fail = fail
        self._lock = threading.Lock()

    def __call__(
        self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        system, last = messages[0]["content"], messages[-1]["content"]
        with self._lock:
            self.calls += 1
        if "proposed_instruction" in system:
            grounded = "WORD" in last or "uppercase" in last.lower()
            rule = "Answer in UPPERCASE. " if grounded and unit(last) < 0.7 else ""
            return [f"proposed_instruction: {rule}Be accurate ({unit(last):.4f})."] * n
        if "observations" in system:
            return ["observations: every answer is the question word in uppercase"] * n
        if "summary" in system:
            return ["summary: answers are uppercase words"] * n
        if "_description" in system:
            field = system.rsplit("\n", 1)[-1].split(":")[0]
            return [f"{field}: turns a word into its answer"] * n
        with self._lock:
            self.task_calls += 1
            self.prompts.append("\n".join(m["content"] for m in messages))
        if self.fail is not None:
            raise self.fail("toy LM failure")
        word = last.split("question:", 1)[1].strip()
        demos = (len(messages) - 2) // 2
        p = 0.25 + (0.5 if "UPPERCASE" in system else 0.0) + 0.05 * demos
        answer = word.upper() if unit(system + word + str(demos)) < p else word
        return [f"answer: {answer}"] * n


class RecordingLM(ToyLM):
    """A :class:`ToyLM` that keeps the user message of every instruction proposal, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.proposer_prompts: list[str] = []

    def __call__(
        self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        if "proposed_instruction" in messages[0]["content"]:
            with self._lock:
                self.proposer_prompts.append(messages[-1]["content"])
        return super().__call__(messages, n=n, temperature=temperature)


def toy_program(lm: Any, stages: int = 1) -> NativeProgram:
    names = [f"s{i}" for i in range(stages)]

    def forward(st: Any, inputs: Any) -> Any:
        out = {"answer": inputs["question"]}
        for name in names:
            out = st[name](question=inputs["question"])
        return out

    return NativeProgram(
        [Stage(n, "question -> answer", "Answer the question.", lm=lm) for n in names], forward
    )


def toy_data(n: int, offset: int = 0) -> list[Example]:
    return [
        Example({"question": f"word{i}"}, {"answer": f"WORD{i}"}) for i in range(offset, offset + n)
    ]


def toy_metric(example: Example, prediction: Any, trace: Any = None) -> bool:
    return bool(prediction["answer"] == example.outputs["answer"])
