"""The native reference program: multi-stage LM programs in plain Python.

This is the smallest complete implementation of the :class:`~mipro_core.Program` protocol, used
by ``mipro demo``, by the tests, and as the reference adapter authors read. A program is a list of
:class:`Stage` objects (each one LM call with a signature, an instruction and demos) and a
``forward`` function that wires them together with ordinary Python::

    from mipro_core.native import NativeProgram, Stage

    def forward(stages, inputs):
        query = stages["query"](question=inputs["question"])["search_query"]
        context = search(query)
        return stages["answer"](question=inputs["question"], context=context)

    program = NativeProgram(
        [Stage("query", "question -> search_query", "Write a search query.", lm=my_lm),
         Stage("answer", "question, context -> answer", "Answer the question.", lm=my_lm)],
        forward,
    )
    prediction, trace = program.run({"question": "Who wrote Hamlet?"})

Concurrency: ``run`` may be called from many threads at once; each run records its own trace
(a :class:`contextvars.ContextVar` per run). ``apply`` swaps every stage's state atomically.
If ``forward`` starts threads of its own, it must run them with
:func:`contextvars.copy_context` so their calls land in the right trace.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ._chat_format import parse_fields, render_messages
from ._errors import EmptyCompletionError, InvalidInputError, ParseError
from ._protocols import LM, Message, Program
from ._types import Demo, ModuleCall, ModuleState, ProgramState, Signature, Trace, stable_hash

Forward = Callable[[Mapping[str, "Stage"], Mapping[str, Any]], Any]


class PromptCache(Protocol):
    """Where a stage keeps answers to prompts (the optimizer's memo implements it)."""

    def get(self, kind: str, key: str) -> Any: ...

    def put(self, kind: str, key: str, value: Any) -> None: ...


_current_calls: contextvars.ContextVar[list[ModuleCall] | None] = contextvars.ContextVar(
    "mipro_native_calls", default=None
)
_current_attempts: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "mipro_native_attempts", default=None
)
"""The LM calls a run has started, failed ones included (what a failed run cost)."""


def _approx_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class _SharedCache:
    """A prompt cache shared by the stages of a program and its replicas, single-flight: while
    one thread asks the LM a prompt, others asking the same prompt wait for its answer instead
    of paying for it again."""

    def __init__(self, store: PromptCache) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._in_flight: dict[str, threading.Event] = {}

    def claim(self, key: str) -> str | None:
        """The cached answer, or ``None`` when the caller must ask the LM (then ``release``)."""
        while True:
            hit = self.store.get("lm", key)
            if isinstance(hit, str):
                return hit
            with self._lock:
                event = self._in_flight.get(key)
                if event is None:
                    self._in_flight[key] = threading.Event()
                    return None
            event.wait()

    def release(self, key: str, answer: str | None) -> None:
        if answer is not None:
            self.store.put("lm", key, answer)
        with self._lock:
            event = self._in_flight.pop(key, None)
        if event is not None:
            event.set()


class Stage:
    """One LM call of a native program: renders a chat prompt, calls the LM, parses the fields."""

    def __init__(
        self,
        name: str,
        signature: Signature | str,
        instruction: str = "",
        *,
        lm: LM,
        demos: Sequence[Demo] = (),
        temperature: float = 0.0,
    ) -> None:
        if not name:
            raise InvalidInputError("a Stage needs a non-empty name")
        self._name = name
        self._signature = Signature.parse(signature) if isinstance(signature, str) else signature
        self._state = ModuleState(instruction, tuple(demos))
        self.lm = lm
        self.temperature = temperature
        self.cache: _SharedCache | None = None
        self.cache_scope = name
        """Stages with the same scope share cached answers (set by ``attach_cache``)."""

    @property
    def name(self) -> str:
        return self._name

    @property
    def signature(self) -> Signature:
        return self._signature

    @property
    def state(self) -> ModuleState:
        return self._state

    def set_state(self, state: ModuleState) -> None:
        self._state = state

    def render(self, inputs: Mapping[str, Any]) -> list[Message]:
        """The messages this stage would send for ``inputs`` under its current state."""
        state = self._state
        return render_messages(self._signature, state.instruction, state.demos, inputs)

    def __call__(self, **inputs: Any) -> dict[str, str]:
        missing = [f for f in self._signature.inputs if f not in inputs]
        if missing:
            raise InvalidInputError(f"stage {self._name!r} needs input field(s) {missing}")
        values = {f: inputs[f] for f in self._signature.inputs}
        messages = self.render(values)
        cache = self.cache if self.temperature == 0 else None
        key = stable_hash({"lm": self.cache_scope, "messages": messages}) if cache else ""
        if cache is not None:
            hit = cache.claim(key)
            if hit is not None:
                outputs = parse_fields(hit, self._signature.outputs)
                self._record(values, outputs, {"cached": 1})
                return outputs
        kept: str | None = None
        try:
            attempts = _current_attempts.get()
            if attempts is not None:
                attempts[0] += 1
            texts = self.lm(messages, n=1, temperature=self.temperature)
            if not texts or not isinstance(texts[0], str):
                # a model fault for this one run (scored as a malformed answer), not bad input
                raise ParseError(f"LM returned no completion for stage {self._name!r}: {texts!r}")
            if not texts[0].strip():  # retried, then a failed run (never a silent 0 score)
                raise EmptyCompletionError(f"LM returned an empty completion for {self._name!r}")
            outputs = parse_fields(texts[0], self._signature.outputs)
            kept = texts[0]  # only answers that parsed are kept
        finally:
            if cache is not None:
                cache.release(key, kept)
        usage = {
            "prompt_tokens": sum(_approx_tokens(m["content"]) for m in messages),
            "completion_tokens": _approx_tokens(texts[0]),
        }
        self._record(values, outputs, usage)
        return outputs

    def _record(
        self, values: Mapping[str, Any], outputs: Mapping[str, str], usage: Mapping[str, int]
    ) -> None:
        calls = _current_calls.get()
        if calls is not None:
            calls.append(ModuleCall(self._name, values, outputs, usage))

    def copy(self) -> Stage:
        stage = Stage(
            self._name,
            self._signature,
            self._state.instruction,
            lm=self.lm,
            demos=self._state.demos,
            temperature=self.temperature,
        )
        stage.cache = self.cache
        return stage


class NativeProgram:
    """A :class:`~mipro_core.Program` made of :class:`Stage` objects and a ``forward`` function."""

    def __init__(
        self, stages: Sequence[Stage], forward: Forward, *, description: str | None = None
    ) -> None:
        if not stages:
            raise InvalidInputError("a NativeProgram needs at least one Stage")
        names = [s.name for s in stages]
        if len(set(names)) != len(names):
            raise InvalidInputError(f"stage names must be unique, got {names}")
        self._stages: dict[str, Stage] = {s.name: s for s in stages}
        self._forward = forward
        self._description = description
        self._apply_lock = threading.Lock()

    @property
    def modules(self) -> Mapping[str, Stage]:
        return dict(self._stages)

    @property
    def stages(self) -> Mapping[str, Stage]:
        return dict(self._stages)

    def apply(self, state: ProgramState) -> None:
        unknown = [n for n in state if n not in self._stages]
        if unknown:
            raise InvalidInputError(
                f"state names unknown module(s) {unknown}; this program has {list(self._stages)}"
            )
        with self._apply_lock:
            for name in state:
                self._stages[name].set_state(state[name])

    def run(self, inputs: Mapping[str, Any]) -> tuple[Any, Trace]:
        calls: list[ModuleCall] = []
        attempts = [0]
        token = _current_calls.set(calls)
        attempts_token = _current_attempts.set(attempts)
        try:
            prediction = self._forward(self._stages, inputs)
        except Exception as exc:
            exc.mipro_lm_calls = attempts[0]  # type: ignore[attr-defined]  # what the run cost
            raise
        finally:
            _current_calls.reset(token)
            _current_attempts.reset(attempts_token)
        return prediction, Trace(tuple(calls))

    def describe(self) -> str:
        parts = []
        if self._description:
            parts.append(self._description.strip())
        parts.append("Stages:")
        for stage in self._stages.values():
            sig = stage.signature
            parts.append(f"- {stage.name}: ({', '.join(sig.inputs)}) -> ({', '.join(sig.outputs)})")
        with contextlib.suppress(OSError, TypeError):
            parts.append("Control flow:\n" + inspect.getsource(self._forward).strip())
        return "\n".join(parts)

    def attach_cache(self, cache: PromptCache | None) -> None:
        """Answer repeated temperature-0 prompts from ``cache`` instead of calling the LM.

        The optimizer attaches its run memo (the journal, when there is one) for the duration of
        a run, so a prompt a trial already paid for is free in every later trial that shares it
        (e.g. the first-hop query of configurations that differ only in a later stage), also
        after a resume. Cache hits are recorded in the trace as calls with ``usage["cached"]``.

        The key is the prompt and the model, not the stage: stages that send the same messages
        to the same LM object (voters of an ensemble before their prompts diverge) share one
        answer, as they would get the same one at temperature 0. The model is named by the first
        stage, in program order, that uses it, so keys are stable across processes.
        """
        shared = _SharedCache(cache) if cache is not None else None
        scopes: dict[int, str] = {}
        for stage in self._stages.values():
            stage.cache = shared
            stage.cache_scope = scopes.setdefault(id(stage.lm), stage.name)

    def default_lm(self) -> LM | None:
        """The LM the stages share, the default proposer model (``None`` if they differ)."""
        lms = {id(s.lm): s.lm for s in self._stages.values()}
        return next(iter(lms.values())) if len(lms) == 1 else None

    def clone(self) -> NativeProgram:
        """An independent replica: new stage objects with the same state, LM and forward."""
        return NativeProgram(
            [s.copy() for s in self._stages.values()], self._forward, description=self._description
        )


def _check_protocol(program: NativeProgram) -> Program:
    return program
