"""The adapter conformance kit: one pytest class that proves an adapter honours mipro's contract.

An adapter's test suite subclasses :class:`AdapterConformanceTests` and says how to build a
framework object and what to run it on; every ``test_*`` method of the base class then runs
against that adapter::

    from mipro_core.testing.conformance import AdapterConformanceTests

    class TestToyAdapter(AdapterConformanceTests):
        def make_object(self):
            return ToyChain(steps=[...], llm=FakeLLM())  # a fresh object, built the same way

        def make_inputs(self):
            return [{"text": "a"}, {"text": "b"}, {"text": "c"}]

The class name does not start with ``Test``, so pytest collects only your subclass. Use a
deterministic fake model in ``make_object`` (the kit compares runs) and no network.

What is checked (each test's docstring says what usually breaks it):

* ``adapt`` returns a Program with at least one module; names are non-empty and identical for
  two freshly built objects; every module has a signature with output fields.
* ``apply`` rewrites the prompts: after applying a new state (instruction with braces, newlines
  and non-ASCII text, plus one extra demo) the program reports exactly that state and still
  runs; applying the original state back restores the state and :meth:`snapshot` exactly.
* Runs are attributed per call under concurrency: running all inputs at once on
  ``concurrency`` threads yields, per input, the same module calls (module, inputs) as running
  them one by one, with every call attributed to a known module.
* Artifacts round-trip: ``save_state`` -> ``load_state`` -> :func:`mipro_core.apply` on a fresh
  object gives the same state.
* Objects the adapter does not own raise :class:`~mipro_core.NoAdapterError`, as does
  ``wrap_lm`` of a junk object.
* Replicas from ``clone()`` (when the program has one) share no prompt with the original, and
  replicas holding different states, run at once from threads, give the same predictions and
  calls as run one by one. ``clone()`` may raise ``NotImplementedError(reason)`` for an object
  it cannot copy safely (the tests are then skipped with the reason; an empty reason fails).

The adapter must be registered when the tests run: install your distribution (``pip install
-e .``) so its entry point is visible, or register it in a fixture with
:func:`mipro_core.plugins.register_plugin`.
"""

from __future__ import annotations

import concurrent.futures
import random
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from mipro_core import (
    Demo,
    ModuleState,
    NoAdapterError,
    Program,
    ProgramState,
    Signature,
    Trace,
    adapt,
    apply,
    current_state,
    load_state,
    save_state,
    wrap_lm,
)
from mipro_core._types import canonical_json

from ._conformance_clone import CloneConformance

__all__ = ["AdapterConformanceTests", "tricky_state"]

_TRICKY_FRAGMENTS = (
    'Answer in JSON like {"answer": "..."}.',
    "Keep {placeholders} and {{double braces}} literally.",
    "Line one.\nLine two, after a newline.\n\n- a bullet",
    "Ünïcödé: naïve café, 日本語, emoji 🚀, Ελληνικά.",
    "Quotes ' \" and backslashes \\n \\ stay as written.",
    "Template-like text: %(name)s $name ${name} <b>tag</b>.",
)


def _call_key(module: str, inputs: Mapping[str, Any]) -> str:
    try:
        return f"{module}\x00{canonical_json(dict(inputs))}"
    except TypeError:  # inputs that are not JSON (framework objects): fall back to repr
        return f"{module}\x00{sorted((str(k), repr(v)) for k, v in inputs.items())!r}"


def tricky_state(
    state: ProgramState, signatures: Mapping[str, Signature], seed: int = 0
) -> ProgramState:
    """A new state derived from ``state`` that stresses prompt templating.

    Every module gets its instruction extended with text holding braces, newlines, quotes and
    non-ASCII characters, and one extra demo whose field values do the same.
    """
    rng = random.Random(seed)
    modules = {}
    for name in state:
        fragments = rng.sample(_TRICKY_FRAGMENTS, 3)
        instruction = "\n".join([state[name].instruction or "Do the task.", *fragments])
        signature = signatures[name]
        demo = Demo(
            inputs={f: f"{f} example {{{f}}} ü\nsecond line" for f in signature.inputs},
            outputs={f: f"{f} answer {{x}} é" for f in signature.outputs},
            source="labeled",
        )
        modules[name] = ModuleState(instruction, (*state[name].demos, demo))
    return ProgramState(modules)


class AdapterConformanceTests(CloneConformance):
    """Subclass me in your adapter's tests; implement :meth:`make_object` and :meth:`make_inputs`.

    Optional: override :meth:`make_unadaptable`, :meth:`snapshot` and :attr:`concurrency`.
    """

    concurrency: ClassVar[int] = 8
    """Threads used by the concurrency test (each input also runs twice at once)."""

    # --- to implement ----------------------------------------------------------------------

    def make_object(self) -> Any:
        """A fresh framework object (chain, pipeline, ...) built the same way on every call."""
        raise NotImplementedError("subclasses of AdapterConformanceTests implement make_object()")

    def make_inputs(self) -> list[dict[str, Any]]:
        """Inputs to run the object on (a handful; at least one must make an LM call)."""
        raise NotImplementedError("subclasses of AdapterConformanceTests implement make_inputs()")

    # --- optional hooks --------------------------------------------------------------------

    def make_unadaptable(self) -> Any:
        """An object the adapter must refuse (default: a bare ``object()``)."""
        return object()

    def snapshot(self, obj: Any) -> Any:
        """A comparable view of the object's *real* prompts.

        The default adapts ``obj`` again and returns its description and current state, which
        checks that the state lives in the framework object (a fresh adapter sees it). Override
        it to return the framework's own prompt objects or strings (e.g. each template's text
        and few-shot examples) when your adapter cannot read every detail of the state back
        from the object, or to check the real prompts more directly.
        """
        program = adapt(obj)
        return (program.describe(), current_state(program))

    # --- helpers ---------------------------------------------------------------------------

    _tricky = staticmethod(tricky_state)

    def _program(self) -> tuple[Any, Program]:
        obj = self.make_object()
        return obj, adapt(obj)

    def _inputs(self) -> list[dict[str, Any]]:
        inputs = list(self.make_inputs())
        if not inputs:
            pytest.fail("make_inputs() returned no inputs; return a few representative ones")
        return inputs

    @staticmethod
    def _signatures(program: Program) -> dict[str, Signature]:
        return {name: module.signature for name, module in program.modules.items()}

    @staticmethod
    def _calls(program: Program, trace: Trace, where: str) -> list[str]:
        if not isinstance(trace, Trace):
            pytest.fail(
                f"run() must return (prediction, Trace); got {type(trace).__name__} {where}"
            )
        unknown = sorted({c.module for c in trace.calls} - set(program.modules))
        if unknown:
            pytest.fail(f"trace {where} attributes calls to unknown module(s) {unknown}")
        if trace.unattributed_calls:
            pytest.fail(f"trace {where} has {trace.unattributed_calls} unattributed LM call(s)")
        return sorted(_call_key(c.module, c.inputs) for c in trace.calls)

    # --- the tests -------------------------------------------------------------------------

    def test_adapt_returns_program_with_stable_module_names(self) -> None:
        """``adapt`` finds the modules, under the same names for every freshly built object.

        Troubleshooting: no adapter accepts the object -> the distribution is not installed in
        this environment or its entry point is wrong (run ``mipro plugins``). Names differ
        between two builds -> names derive from ids, memory addresses or counters; derive them
        from the object's structure (step names, positions, keys) so artifacts saved today
        apply to the chain built tomorrow.
        """
        _, first = self._program()
        _, second = self._program()
        if not isinstance(first, Program):
            pytest.fail(f"adapt() returned a {type(first).__name__}, not a Program")
        names = list(first.modules)
        if not names:
            pytest.fail("the adapted program has no modules: the adapter found no prompt")
        for key, module in first.modules.items():
            if not isinstance(key, str) or not key:
                pytest.fail(f"module name {key!r} is not a non-empty string")
            if module.name != key:
                pytest.fail(f"modules[{key!r}].name is {module.name!r}; they must agree")
        if list(second.modules) != names:
            pytest.fail(
                f"module names are not stable across builds: {names} vs {list(second.modules)}"
            )

    def test_modules_have_signatures_and_state(self) -> None:
        """Every module has a signature naming its output fields and a ModuleState.

        Troubleshooting: empty outputs -> map the framework's output key / parser to a field
        name (a single free-text answer can be called ``"answer"`` or ``"text"``).
        """
        _, program = self._program()
        for name, module in program.modules.items():
            signature = module.signature
            if not isinstance(signature, Signature):
                pytest.fail(f"module {name!r}: signature is a {type(signature).__name__}")
            if not signature.outputs:
                pytest.fail(f"module {name!r}: signature has no output fields")
            if not all(isinstance(f, str) and f for f in (*signature.inputs, *signature.outputs)):
                pytest.fail(f"module {name!r}: field names must be non-empty strings")
            if not isinstance(module.state, ModuleState):
                pytest.fail(f"module {name!r}: state is a {type(module.state).__name__}")
        if not isinstance(program.describe(), str) or not program.describe().strip():
            pytest.fail("describe() must return a non-empty text view of the program")

    def test_apply_then_restore_is_identity(self) -> None:
        """``apply`` rewrites the real prompts; applying the original state restores them exactly.

        Troubleshooting: ``KeyError``/``IndexError`` when running after apply -> the instruction
        or a demo was inserted into a template unescaped (``{`` ``}`` must be doubled for
        f-string templates). State differs after apply -> the adapter normalises text (strips,
        re-wraps) or loses demo fields/``source``; store exactly what it is given. Snapshot
        differs after restore -> apply leaves traces (added messages not removed, examples
        appended instead of replaced).
        """
        obj, program = self._program()
        original = current_state(program)
        before = self.snapshot(obj)
        changed = tricky_state(original, self._signatures(program), seed=1)
        program.apply(changed)
        if current_state(program) != changed:
            pytest.fail(
                "after apply(state), current_state differs from the applied state:\n"
                f"applied: {changed}\nreported: {current_state(program)}"
            )
        if self.snapshot(obj) == before:
            pytest.fail("apply(state) did not change the snapshot of the real prompts")
        program.run(self._inputs()[0])  # templating must survive braces and newlines
        program.apply(original)
        if current_state(program) != original:
            pytest.fail("apply(original state) did not restore current_state exactly")
        if self.snapshot(obj) != before:
            pytest.fail("apply(original state) did not restore the real prompts (snapshot)")

    def test_concurrent_runs_match_sequential_runs(self) -> None:
        """Runs in flight at once record the same calls per input as runs one by one.

        Troubleshooting: calls missing or swapped between inputs -> the adapter collects calls
        in shared state (a list on the program, a global callback); use a per-run collector
        (a callback handler created inside ``run``, a :class:`contextvars.ContextVar`) and make
        the framework's worker threads inherit the context. Unattributed calls -> an LM call
        could not be matched to a module; match on the framework's run ids/parents, not on
        prompt text.
        """
        _, program = self._program()
        inputs = self._inputs()
        sequential = [
            self._calls(program, program.run(x)[1], f"of sequential run {i}")
            for i, x in enumerate(inputs)
        ]
        if not any(sequential):
            pytest.fail("no run recorded any module call: run() must return the calls it made")
        jobs = [i for _ in range(2) for i in range(len(inputs))]
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            traces = list(pool.map(lambda i: program.run(inputs[i])[1], jobs))
        for i, trace in zip(jobs, traces, strict=True):
            calls = self._calls(program, trace, f"of concurrent run of input {i}")
            if {c.split("\x00")[0] for c in calls} != {c.split("\x00")[0] for c in sequential[i]}:
                pytest.fail(f"input {i}: concurrent run called other modules than sequential")
            if calls != sequential[i]:
                pytest.fail(
                    f"input {i}: concurrent run recorded other calls than sequential run:\n"
                    f"sequential: {sequential[i]}\nconcurrent: {calls}"
                )

    def test_artifact_round_trip(self) -> None:
        """A saved state loads back equal and applies to a freshly built object.

        Troubleshooting: ``InvalidInputError`` on save -> a ModuleState holds values JSON cannot
        represent (framework objects in demo fields); convert them to text. ``ArtifactError``
        naming missing/unknown modules -> module names are not stable across builds.
        """
        _, program = self._program()
        changed = tricky_state(current_state(program), self._signatures(program), seed=2)
        program.apply(changed)
        with tempfile.TemporaryDirectory() as directory:
            path = save_state(Path(directory) / "artifact.json", current_state(program))
            loaded = load_state(path)
            if loaded != changed:
                pytest.fail("load_state(save_state(state)) differs from state")
            fresh = apply(self.make_object(), path)
        if current_state(fresh) != changed:
            pytest.fail("mipro_core.apply(fresh object, artifact) did not yield the saved state")

    def test_unadaptable_object_raises_no_adapter_error(self) -> None:
        """An object the adapter does not own gives a clear NoAdapterError, not a crash.

        Troubleshooting: ``AttributeError``/``ImportError`` from your ``mipro_adapt`` -> check
        the object's type first and return ``None`` for anything that is not yours.
        """
        junk = self.make_unadaptable()
        with pytest.raises(NoAdapterError) as info:
            adapt(junk)
        if type(junk).__qualname__ not in str(info.value):
            pytest.fail(f"NoAdapterError should name the type: {info.value}")

    def test_wrap_lm_rejects_junk(self) -> None:
        """``wrap_lm`` of an object no adapter can use raises NoAdapterError.

        Troubleshooting: your ``mipro_wrap_lm`` returned something for a foreign object ->
        check the model's type and return ``None`` otherwise.
        """
        with pytest.raises(NoAdapterError):
            wrap_lm(object())
