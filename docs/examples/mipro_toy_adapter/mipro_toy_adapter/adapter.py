"""The adapter: ToyChain -> mipro_core.Program, using only public mipro_core names.

Mapping: each ``ToyStep`` is a module named after the step; its instruction is the step's
``instruction`` and its demos are the step's ``examples``. ``apply`` writes into the steps the
user holds (in place), and module state is always read back from them, so a freshly adapted
chain sees the optimized prompts too.

Concurrency (mipro's contract): ``run`` may be called from many threads at once after one
``apply``. Each run passes its own callback to ``ToyChain.invoke`` and collects its calls in a
local list, so interleaved runs never mix traces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mipro_core import (
    Demo,
    InvalidInputError,
    Message,
    ModuleCall,
    ModuleState,
    ProgramState,
    Signature,
    Trace,
)

from .toychain import ToyChain, ToyLLM, ToyStep


def _demo_from_example(example: Mapping[str, Any]) -> Demo:
    # Examples written by hand carry no "source"; those mipro wrote keep theirs.
    return Demo(
        inputs=dict(example.get("inputs", {})),
        outputs=dict(example.get("outputs", {})),
        source=str(example.get("source", "labeled")),
    )


def _example_from_demo(demo: Demo) -> dict[str, Any]:
    return {"inputs": dict(demo.inputs), "outputs": dict(demo.outputs), "source": demo.source}


class ToyModule:
    """One step seen as a mipro Module; reads the live step every time."""

    def __init__(self, step: ToyStep) -> None:
        self._step = step

    @property
    def name(self) -> str:
        return self._step.name

    @property
    def signature(self) -> Signature:
        return Signature(inputs=self._step.input_keys(), outputs=(self._step.output_key,))

    @property
    def state(self) -> ModuleState:
        demos = tuple(_demo_from_example(e) for e in self._step.examples)
        return ModuleState(self._step.instruction, demos)


class ToyProgram:
    """A ToyChain as a mipro Program (rewrites the chain's own steps in place)."""

    def __init__(self, chain: ToyChain) -> None:
        names = [step.name for step in chain.steps]
        if not names:
            raise InvalidInputError("this ToyChain has no steps: nothing to optimize")
        if len(set(names)) != len(names):
            raise InvalidInputError(f"ToyChain step names must be unique to optimize, got {names}")
        self.chain = chain
        self._modules = {step.name: ToyModule(step) for step in chain.steps}

    @property
    def modules(self) -> Mapping[str, ToyModule]:
        return dict(self._modules)

    def apply(self, state: ProgramState) -> None:
        steps = {step.name: step for step in self.chain.steps}
        unknown = [name for name in state if name not in steps]
        if unknown:
            raise InvalidInputError(f"unknown step(s) {unknown}; the chain has {list(steps)}")
        for name in state:
            steps[name].instruction = state[name].instruction
            steps[name].examples = [_example_from_demo(d) for d in state[name].demos]

    def run(self, inputs: Mapping[str, Any]) -> tuple[Any, Trace]:
        calls: list[ModuleCall] = []  # local to this run: concurrent runs cannot mix

        def record(step: str, step_inputs: dict[str, Any], completion: str) -> None:
            output_key = self._modules[step].signature.outputs[0]
            calls.append(ModuleCall(step, step_inputs, {output_key: completion}))

        result = self.chain.invoke(dict(inputs), callbacks=[record])
        return result, Trace(tuple(calls))

    def describe(self) -> str:
        lines = ["A ToyChain: steps run in order, each answer feeds the later steps."]
        for step in self.chain.steps:
            lines.append(f"- {step.name}: template {step.template!r} -> {step.output_key}")
        return "\n".join(lines)

    def clone(self) -> ToyProgram:
        """A replica over a copy of the steps: applying a state to it leaves the original."""
        return ToyProgram(self.chain.copy())


class ToyLM:
    """A ToyLLM as a mipro LM: chat messages in, ``n`` completions out."""

    def __init__(self, llm: ToyLLM) -> None:
        self.llm = llm

    def __call__(
        self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        prompt = "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)
        return [self.llm.complete(f"{prompt}\n(sample {i})" if i else prompt) for i in range(n)]
