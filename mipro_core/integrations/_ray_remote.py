"""The driver's side of Ray runs: the program and metric the run uses, and worker errors."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from typing import Any, Protocol

import attrs

from .._errors import (
    EmptyCompletionError,
    InvalidInputError,
    MetricError,
    MiproError,
    ParseError,
    TransientLMError,
)
from .._protocols import Metric, Module, Program
from .._types import Example, ProgramState, Trace


class RemoteRunError(MiproError):
    """A program run on a Ray worker raised an exception that is not worth retrying."""

    transient = False
    """Never retried (see :func:`mipro_core.is_transient`)."""


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def plain(text: str) -> str:
    """``text`` without terminal colour codes."""
    return _ANSI.sub("", text)


def worker_error(exc: BaseException) -> BaseException:
    """What to raise for a Ray task error: a mipro error as the worker raised it, else a
    :class:`RemoteRunError` naming the cause's type and message (no remote traceback)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, MiproError):
        return cause
    if isinstance(cause, BaseException):
        return RemoteRunError(f"{type(cause).__name__} on a Ray worker: {plain(str(cause))}")
    first = plain(str(exc)).strip().splitlines()
    return RemoteRunError(f"Ray task failed: {first[-1] if first else type(exc).__name__}")


class _Runs(Protocol):
    def run(self, state_json: str | None, inputs: Mapping[str, Any]) -> tuple[Any, Trace]: ...


def inputs_key(inputs: Mapping[str, Any]) -> str:
    """The key that finds an example by its inputs."""
    try:
        return json.dumps(dict(inputs), sort_keys=True)
    except (TypeError, ValueError):
        return repr(sorted(inputs.items()))


def _raised(error: Mapping[str, Any]) -> Exception:
    message = f"{error.get('type')}: {error.get('message')}"
    kind = error.get("kind")
    exc: Exception
    if kind == "parse":
        exc = ParseError(message)
    elif kind == "empty":
        exc = EmptyCompletionError(message)
    elif kind == "invalid_input":
        exc = InvalidInputError(str(error.get("message")))
    elif kind == "transient":
        hint = error.get("retry_after")
        exc = TransientLMError(message, retry_after=hint if isinstance(hint, float) else None)
    else:
        exc = RemoteRunError(message)
    calls = error.get("lm_calls")
    if isinstance(calls, int):
        setattr(exc, "mipro_lm_calls", calls)  # noqa: B010  # what the run cost (docs/adapters.md)
    return exc


class UncarriedPrediction:
    """A worker's prediction that JSON could not carry back: only its text is here (see
    :func:`mipro_core._prediction_text.prediction_text`)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


@attrs.frozen
class WorkerScores:
    """The metric's scores a worker computed for one run's prediction: per example id (every
    example with the run's inputs), or None when the worker did not score it."""

    prediction: Any
    scores: Mapping[str, Mapping[str, Any]] | None


_last = threading.local()
"""Per evaluator thread: the :class:`WorkerScores` of the run this thread made last."""


class RemoteScoredMetric:
    """The user's metric, answered from the worker's score when the worker computed one."""

    def __init__(self, metric: Metric) -> None:
        self.metric = metric

    def __call__(self, example: Example, prediction: Any, trace: Trace | None = None) -> Any:
        found: WorkerScores | None = getattr(_last, "outcome", None)
        if found is not None and found.prediction is prediction:
            scores = (found.scores or {}).get(example.id)
            if scores is not None:
                if "metric_error" in scores:
                    raise MetricError(str(scores["metric_error"]))
                if trace is not None and "trace" in scores:
                    return scores["trace"]
                return scores["plain"]
        if isinstance(prediction, UncarriedPrediction):
            raise MetricError(
                f"example {example.id}: the metric cannot run on the Ray workers (pass "
                "RayBackend(metric='module:function') or a metric defined in an importable "
                "module) and the program's prediction is not JSON, so it cannot run here either"
            )
        return self.metric(example, prediction, trace)


class RemoteProgram:
    """The driver's view of the program: its modules locally, its runs on Ray workers."""

    def __init__(self, session: _Runs, local: Program, *, apply_locally: bool) -> None:
        self._session = session
        self._local = local
        self._apply_locally = apply_locally
        # the full state the workers apply (a partial apply keeps the other modules' states)
        self._state = {name: m.state.to_dict() for name, m in local.modules.items()}
        self._state_json = json.dumps(self._state, sort_keys=True)  # what each run sends
        self._lock = threading.Lock()
        self._refusal: str | None = None  # why the local program cannot be cloned
        self._probed = False  # whether its clone() was tried (on the first clone())

    @property
    def modules(self) -> Mapping[str, Module]:
        return self._local.modules

    def apply(self, state: ProgramState) -> None:
        """Record the state the workers apply; the original also gets it locally (write-back)."""
        with self._lock:
            self._state = {**self._state, **state.to_dict()}
            self._state_json = json.dumps(self._state, sort_keys=True)
        if self._apply_locally:
            self._local.apply(state)

    def run(self, inputs: Mapping[str, Any]) -> tuple[Any, Trace]:
        with self._lock:
            state_json = self._state_json
        return self._session.run(state_json, inputs)

    def describe(self) -> str:
        return self._local.describe()

    def clone(self) -> RemoteProgram:
        """A replica for a parallel trial: its own state, the same workers, no local writes.

        Refuses as the local program does (``NotImplementedError`` with its reason, or none
        when it has no ``clone()``): the run then scores one trial at a time, as on threads."""
        with self._lock:
            if not self._probed:
                self._refusal, self._probed = clone_refusal(self._local), True
            refusal = self._refusal
        if refusal is not None:
            raise NotImplementedError(refusal)
        replica = RemoteProgram(self._session, self._local, apply_locally=False)
        replica._refusal, replica._probed = None, True
        with self._lock:
            replica._state, replica._state_json = dict(self._state), self._state_json
        return replica


def clone_refusal(program: Program) -> str | None:
    """Why ``program`` cannot be cloned (None: it can): it has no ``clone()``, or its
    ``clone()`` raises ``NotImplementedError(reason)`` (docs/adapters.md)."""
    clone = getattr(program, "clone", None)
    if not callable(clone):
        return f"the {type(program).__name__} program has no clone()"
    try:
        clone()
    except NotImplementedError as exc:
        return str(exc)
    return None


def read_outcome(text: str) -> tuple[Any, Trace]:
    """The prediction and trace of a worker's outcome JSON; raises what the run raised."""
    outcome = json.loads(text)
    if "error" in outcome:
        raise _raised(outcome["error"])
    trace = Trace.from_dict(outcome["trace"])
    prediction = outcome["prediction"]
    if not outcome["carried"]:
        prediction = UncarriedPrediction(str(prediction))
    # the evaluator scores a run in the thread that ran it, right after the run: the metric
    # finds the worker's scores here, tied to this very prediction object
    _last.outcome = WorkerScores(prediction, outcome.get("scores"))
    return prediction, trace
