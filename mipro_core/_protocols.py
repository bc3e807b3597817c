"""The contract between the optimizer and the programs it optimizes.

An adapter turns a framework object (a LangChain runnable, a LlamaIndex query engine, ...) into a
:class:`Program`. The optimizer only ever talks to these protocols.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, TypedDict, runtime_checkable

from ._types import Example, ModuleState, ProgramState, Signature, Trace


class Message(TypedDict):
    """One chat message, in the shape every chat API understands."""

    role: Literal["system", "user", "assistant"]
    content: str


@runtime_checkable
class Module(Protocol):
    """One LM-calling stage of a program.

    ``name`` is stable across runs and rebuilds of the same program (artifacts refer to it);
    ``state`` is the module's *current* instruction and demos.

    Optional: ``output_is_raw_text = True`` says the module's one output is the model's reply
    text as it is (no parser turns it into JSON, an object or tool calls). A one-module program
    whose module says so takes the data's one gold field as its output for labeled demos
    whatever the names (see ``optimize(outputs=...)``). Absent means ``False``, the safe
    default: the run then warns instead of guessing.
    """

    @property
    def name(self) -> str: ...

    @property
    def signature(self) -> Signature: ...

    @property
    def state(self) -> ModuleState: ...


@runtime_checkable
class Program(Protocol):
    """A multi-stage LM program whose modules' prompts can be rewritten in place.

    Concurrency contract: after ``apply(state)``, many ``run`` calls may be in flight at once on
    different threads, and each must return the trace of *its own* calls. ``apply`` is never called
    while runs are in flight. Programs that can make independent replicas also implement
    ``clone() -> Program`` (see :class:`CloneableProgram`).
    """

    @property
    def modules(self) -> Mapping[str, Module]: ...

    def apply(self, state: ProgramState) -> None:
        """Rewrite the real prompts so every module named in ``state`` uses that state."""
        ...

    def run(self, inputs: Mapping[str, Any]) -> tuple[Any, Trace]:
        """Run the program once on ``inputs``; return its prediction and the trace of module calls."""
        ...

    def describe(self) -> str:
        """A text view of the program (structure or source) for the instruction proposer."""
        ...


@runtime_checkable
class CloneableProgram(Program, Protocol):
    """A program that can make replicas sharing no prompt object with the original."""

    def clone(self) -> Program: ...


class Metric(Protocol):
    """Scores one prediction: ``(example, prediction, trace) -> float | bool``.

    ``trace`` is given while bootstrapping demos (the metric may then be stricter) and ``None``
    during evaluation. Higher is better; bools count as 1.0 / 0.0.
    """

    def __call__(self, example: Example, prediction: Any, trace: Trace | None = None) -> Any: ...


@runtime_checkable
class LM(Protocol):
    """The language model the optimizer itself calls (the instruction proposer).

    Takes chat messages and returns ``n`` completion texts sampled at ``temperature``.
    """

    def __call__(
        self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]: ...


def current_state(program: Program) -> ProgramState:
    """The program's current :class:`ProgramState`, read from its modules."""
    return ProgramState({name: module.state for name, module in program.modules.items()})


def is_program(obj: Any) -> bool:
    """Whether ``obj`` is an *instance* implementing :class:`~mipro_core.Program`."""
    return not isinstance(obj, type) and isinstance(obj, Program)


def looks_like_lm(obj: Any) -> bool:
    """Whether ``obj`` can be called as ``obj(messages, n=..., temperature=...)``.

    Any callable satisfies the runtime :class:`~mipro_core.LM` protocol, so the signature is
    checked too: ``print`` or a one-argument function is not accepted as a model.
    """
    if isinstance(obj, type) or not callable(obj):
        return False
    try:
        inspect.signature(obj).bind([], n=1, temperature=0.0)
    except (TypeError, ValueError):
        return False
    return True


class EvaluationSession(Protocol):
    """A backend's connection for one run: the program and metric to use, closed at the end."""

    @property
    def program(self) -> Program: ...

    @property
    def metric(self) -> Metric: ...

    def close(self) -> None: ...


class EvaluationBackend(Protocol):
    """Where program runs happen instead of the local thread pool (e.g. a Ray cluster).

    ``connect`` gets the adapted program, the checked metric, every example of the run and
    the number of runs the optimizer keeps in flight (``num_threads``) before any LM call, and
    returns a session whose ``program`` (a :class:`Program` whose runs go elsewhere) and
    ``metric`` the run uses; the optimizer closes it when the run ends.
    """

    def connect(
        self, program: Program, metric: Metric, examples: Sequence[Example], *, num_threads: int
    ) -> EvaluationSession: ...
