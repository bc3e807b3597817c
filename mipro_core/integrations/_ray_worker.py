"""What a Ray worker runs: rebuild the program from its factory, apply a JSON state, run one example.

Everything that crosses the wire is JSON text or plain strings: the factory and metric as
``module:attribute`` references, the candidate :class:`~mipro_core.ProgramState` and the
example as JSON, and the outcome as JSON. No program object is ever pickled. A worker is a
threaded Ray actor (:class:`RunWorker`) running several runs at once; it keeps a pool of programs
built from the factory, one per run in flight, and reuses them.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import threading
from typing import Any

from .._errors import EmptyCompletionError, InvalidInputError, MetricError, ParseError
from .._prediction_text import prediction_text
from .._protocols import Program
from .._retry import is_transient, retry_after
from .._types import Example, ProgramState

_IDLE: dict[str, list[tuple[Program, str | None]]] = {}
"""Per worker process: factory reference -> its idle programs (each with the state JSON it has)."""
_IDLE_LOCK = threading.Lock()


def load_reference(reference: str) -> Any:
    """The object ``module:attribute`` names (a dotted attribute path is allowed)."""
    from .._cli_load import load_object

    return load_object(reference, "reference")


def build_program(factory: str) -> Program:
    """The program ``factory`` names, built and adapted exactly as the CLI builds its APP."""
    from .._cli_load import adapt_app, load_app

    label = "RayBackend.factory"
    program: Program = adapt_app(load_app(factory, label), factory, label)
    return program


def _take(factory: str) -> tuple[Program, str | None]:
    """An idle program of ``factory`` (built when none is idle): runs in flight never share one."""
    with _IDLE_LOCK:
        idle = _IDLE.setdefault(factory, [])
        if idle:
            return idle.pop()
    return build_program(factory), None


def _give_back(factory: str, program: Program, applied: str | None) -> None:
    with _IDLE_LOCK:
        _IDLE.setdefault(factory, []).append((program, applied))


def _error(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, ParseError):
        kind = "parse"
    elif isinstance(exc, EmptyCompletionError):
        kind = "empty"
    elif isinstance(exc, InvalidInputError):
        kind = "invalid_input"
    elif is_transient(exc):
        kind = "transient"
    else:
        kind = "error"
    calls = getattr(exc, "mipro_lm_calls", None)
    return {
        "kind": kind,
        "type": type(exc).__name__,
        "message": str(exc),
        "retry_after": retry_after(exc),
        "lm_calls": calls if isinstance(calls, int) else None,
    }


def _jsonable(value: Any) -> tuple[bool, Any]:
    try:
        return True, json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        return False, None


def takes_trace(metric: Any) -> bool:
    """Whether the metric can see the trace (so its score may differ when given one)."""
    try:
        parameters = inspect.signature(metric).parameters
    except (TypeError, ValueError):
        return True
    positional = [
        p
        for p in parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return (
        "trace" in parameters
        or len(positional) >= 3
        or any(p.kind is p.VAR_POSITIONAL for p in positional)
    )


@functools.lru_cache(maxsize=8)
def _metric(metric_ref: str) -> tuple[Any, bool]:
    """The checked metric of ``metric_ref`` and whether it takes the trace (once per worker
    process; a reference that fails to load is tried again on the next run)."""
    from .._metric import checked_metric

    raw_metric = load_reference(metric_ref)
    return checked_metric(raw_metric, f"metric {metric_ref}"), takes_trace(raw_metric)


def _scores(metric_ref: str, example: Example, prediction: Any, trace: Any) -> dict[str, Any]:
    """The metric's scores on the worker: without the trace, and with it if the metric takes it."""
    from .._eval_records import score_value

    scores: dict[str, Any] = {}
    try:
        metric, with_trace = _metric(metric_ref)
        scores["plain"] = score_value(metric(example, prediction, None), example)
        if with_trace:
            scores["trace"] = score_value(metric(example, prediction, trace), example)
    except MetricError as exc:
        return {"metric_error": str(exc)}
    except Exception as exc:
        return {"metric_error": f"metric raised {type(exc).__name__}: {exc} on {example.id}"}
    if not all(math.isfinite(v) for v in scores.values()):
        return {"metric_error": f"metric returned a non-finite score on {example.id}"}
    return scores


def run_example(
    factory: str, state_json: str | None, examples_json: str, metric_ref: str | None
) -> str:
    """Run the inputs of ``examples_json`` (a JSON list of examples sharing their inputs) on
    the worker's program in ``state_json``; the outcome as JSON text.

    The outcome holds ``trace`` (the module calls), ``prediction`` (when JSON can carry it) and
    ``scores`` (when ``metric_ref`` names the metric: the scores against each example, by its
    id), or ``error`` describing what the run raised (its kind says whether it is worth
    retrying).
    """
    examples = [Example.from_dict(e) for e in json.loads(examples_json)]
    example = examples[0]
    program, applied = _take(factory)
    try:
        if state_json is not None and state_json != applied:
            applied = None  # a failed apply leaves the program in no known state
            program.apply(ProgramState.from_dict(json.loads(state_json)))
            applied = state_json
        prediction, trace = program.run(example.inputs)
    except Exception as exc:
        return json.dumps({"error": _error(exc)})
    finally:
        _give_back(factory, program, applied)
    carried, value = _jsonable(prediction)
    outcome: dict[str, Any] = {
        "trace": trace.to_dict(),
        "carried": carried,
        # what the proposer and the report are shown, the same text as on threads
        "prediction": value if carried else prediction_text(prediction, limit=100_000),
    }
    if metric_ref is not None:
        outcome["scores"] = {e.id: _scores(metric_ref, e, prediction, trace) for e in examples}
    return json.dumps(outcome)


def describe(factory: str, metric_ref: str | None, programs: int) -> str:
    """The module names and signatures of the factory's program, as JSON (a fit check).

    Also builds ``programs`` programs for the runs to come (so no run pays for building one)
    and loads the metric reference, raising :class:`InvalidInputError` naming
    ``RayBackend.metric`` when it is not an importable callable.
    """
    if metric_ref is not None:
        try:
            metric = load_reference(metric_ref)
        except Exception as exc:
            raise InvalidInputError(f"RayBackend.metric {metric_ref!r}: {exc}") from None
        if not callable(metric):
            raise InvalidInputError(f"RayBackend.metric {metric_ref!r} is not callable")
    built = [_take(factory) for _ in range(max(1, programs))]
    for program, applied in built:
        _give_back(factory, program, applied)
    program = built[0][0]
    return json.dumps(
        {name: module.signature.to_dict() for name, module in program.modules.items()},
        sort_keys=True,
    )


class RunWorker:
    """A Ray actor's body: runs of one app, several at once (each on its own program)."""

    def ready(self) -> bool:
        """Answers once the actor is placed and its process runs (a start-up check)."""
        return True

    def describe(self, factory: str, metric_ref: str | None, programs: int) -> str:
        return describe(factory, metric_ref, programs)

    def run_example(
        self, factory: str, state_json: str | None, examples_json: str, metric_ref: str | None
    ) -> str:
        return run_example(factory, state_json, examples_json, metric_ref)
