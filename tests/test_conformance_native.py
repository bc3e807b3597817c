"""The native reference program passes the adapter conformance kit, and the kit catches bugs."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest

from mipro_core import (
    Message,
    ModuleCall,
    ModuleState,
    ProgramState,
    Trace,
    current_state,
)
from mipro_core.native import NativeProgram, Stage
from mipro_core.plugins import DISABLE_AUTOLOAD_ENV, register_plugin, reset_plugin_manager
from mipro_core.testing.conformance import AdapterConformanceTests, tricky_state


class HashLM:
    """A deterministic fake LM: answers every output field with a hash of the prompt."""

    def __call__(
        self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        system = messages[0]["content"]
        fields = next(
            line.split(":", 1)[1]
            for line in system.splitlines()
            if line.startswith("Output fields:")
        )
        digest = hashlib.sha256(
            "\x00".join(m["content"] for m in messages).encode("utf-8")
        ).hexdigest()[:10]
        answer = "\n".join(f"{f.strip()}: {f.strip()}-{digest}" for f in fields.split(","))
        return [answer] * n


def forward(stages: Mapping[str, Stage], inputs: Mapping[str, Any]) -> Any:
    query = stages["rewrite"](question=inputs["question"])["query"]
    if inputs.get("short"):  # some inputs skip the second stage
        return {"answer": query}
    return stages["answer"](question=inputs["question"], context=f"ctx for {query}")


def build_program(lm: Any = None) -> NativeProgram:
    lm = lm or HashLM()
    return NativeProgram(
        [
            Stage("rewrite", "question -> query", "Rewrite the question as a query.", lm=lm),
            Stage("answer", "question, context -> answer", "Answer from the context.", lm=lm),
        ],
        forward,
    )


INPUTS = [{"question": f"question {i} {{x}}", "short": i % 3 == 0} for i in range(8)]


class TestNativeProgramConformance(AdapterConformanceTests):
    def make_object(self) -> Any:
        return build_program()

    def make_inputs(self) -> list[dict[str, Any]]:
        return [dict(x) for x in INPUTS]

    def snapshot(self, obj: Any) -> Any:
        # The real prompts: the messages each stage renders for a fixed input.
        return [
            stage.render({f: f"<{f}>" for f in stage.signature.inputs})
            for stage in obj.stages.values()
        ]


def test_tricky_state_changes_every_module_and_keeps_old_demos() -> None:
    program = build_program()
    original = current_state(program)
    signatures = {n: m.signature for n, m in program.modules.items()}
    changed = tricky_state(original, signatures, seed=5)
    assert changed.names() == original.names()
    for name in original:
        assert changed[name].instruction.startswith(original[name].instruction)
        assert any(c in changed[name].instruction for c in "{}\n")
        assert changed[name].demos[:-1] == original[name].demos
        demo = changed[name].demos[-1]
        assert set(demo.inputs) == set(signatures[name].inputs)
        assert set(demo.outputs) == set(signatures[name].outputs)
    assert tricky_state(original, signatures, seed=5) == changed  # deterministic


# --- the kit fails on broken programs (each with the reason an author needs) ---------------


class SharedTraceProgram:
    """Broken on purpose: collects calls in one list shared by all runs."""

    def __init__(self, barrier: threading.Barrier) -> None:
        self.barrier = barrier
        self.calls: list[ModuleCall] = []
        self.inner = build_program(self._lm)

    def _lm(
        self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        if threading.current_thread() is not threading.main_thread():
            self.barrier.wait()  # all concurrent runs reach their LM call together
        return HashLM()(messages, n=n, temperature=temperature)

    @property
    def modules(self) -> Mapping[str, Any]:
        return self.inner.modules

    def apply(self, state: ProgramState) -> None:
        self.inner.apply(state)

    def run(self, inputs: Mapping[str, Any]) -> tuple[Any, Trace]:
        self.calls = []
        prediction, trace = self.inner.run(inputs)
        self.calls.extend(trace.calls)
        return prediction, Trace(tuple(self.calls))

    def describe(self) -> str:
        return self.inner.describe()


class LossyProgram(NativeProgram):
    """Broken on purpose: strips instructions when applying them."""

    def apply(self, state: ProgramState) -> None:
        super().apply(
            ProgramState(
                {
                    n: ModuleState(s.instruction.strip()[:20], s.demos)
                    for n, s in state.modules.items()
                }
            )
        )


_counter = iter(range(10**6))


def unstable_program() -> NativeProgram:
    suffix = next(_counter)
    lm = HashLM()
    return NativeProgram(
        [Stage(f"stage{suffix}", "question -> answer", "Answer.", lm=lm)],
        lambda stages, inputs: next(iter(stages.values()))(question=inputs["question"]),
    )


class _Kit(AdapterConformanceTests):
    concurrency = 4

    def make_inputs(self) -> list[dict[str, Any]]:
        return [{"question": f"q{i}", "short": True} for i in range(2)]


@pytest.fixture
def isolated_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    reset_plugin_manager()
    yield
    reset_plugin_manager()


def test_kit_catches_shared_trace_state() -> None:
    barrier = threading.Barrier(4, timeout=60)  # a guard against hanging, not a timing check
    program = SharedTraceProgram(barrier)

    class Kit(_Kit):
        def make_object(self) -> Any:
            return program

    # 2 inputs x 2 rounds = 4 concurrent runs meet at the barrier, then share one list.
    with pytest.raises(pytest.fail.Exception, match="concurrent run recorded other calls"):
        Kit().test_concurrent_runs_match_sequential_runs()


def test_kit_catches_lossy_apply() -> None:
    class Kit(_Kit):
        def make_object(self) -> Any:
            base = build_program()
            return LossyProgram(list(base.stages.values()), forward)

    with pytest.raises(pytest.fail.Exception, match="current_state differs"):
        Kit().test_apply_then_restore_is_identity()


def test_kit_catches_unstable_module_names() -> None:
    class Kit(_Kit):
        def make_object(self) -> Any:
            return unstable_program()

    with pytest.raises(pytest.fail.Exception, match="not stable across builds"):
        Kit().test_adapt_returns_program_with_stable_module_names()


def test_kit_catches_calls_to_unknown_modules() -> None:
    class Liar(NativeProgram):
        def run(self, inputs: Mapping[str, Any]) -> tuple[Any, Trace]:
            prediction, trace = super().run(inputs)
            return prediction, Trace((*trace.calls, ModuleCall("ghost", {}, {})))

    class Kit(_Kit):
        def make_object(self) -> Any:
            return Liar(list(build_program().stages.values()), forward)

    with pytest.raises(pytest.fail.Exception, match=r"unknown module\(s\) \['ghost'\]"):
        Kit().test_concurrent_runs_match_sequential_runs()


@pytest.mark.usefixtures("isolated_plugins")
def test_kit_catches_adapters_that_claim_everything() -> None:
    from mipro_core.plugins import hookimpl

    class Greedy:
        @hookimpl
        def mipro_adapt(self, obj: Any) -> Any:
            return build_program()

    register_plugin(Greedy(), name="greedy")

    class Kit(_Kit):
        def make_object(self) -> Any:
            return build_program()

    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        Kit().test_unadaptable_object_raises_no_adapter_error()


def test_kit_catches_clones_sharing_prompts() -> None:
    class SharingClone(NativeProgram):
        def clone(self) -> NativeProgram:
            return SharingClone(list(self.stages.values()), forward)  # same Stage objects

    class Kit(_Kit):
        def make_object(self) -> Any:
            return SharingClone(list(build_program().stages.values()), forward)

    with pytest.raises(pytest.fail.Exception, match="changed the original"):
        Kit().test_clone_shares_no_prompt_with_original()


def test_kit_requires_inputs() -> None:
    class Kit(_Kit):
        def make_object(self) -> Any:
            return build_program()

        def make_inputs(self) -> list[dict[str, Any]]:
            return []

    with pytest.raises(pytest.fail.Exception, match="make_inputs"):
        Kit().test_concurrent_runs_match_sequential_runs()
