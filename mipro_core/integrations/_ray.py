"""Program runs on a Ray cluster; the search, the journal and the budgets stay on the driver."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

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
from . import _ray_worker


class RemoteRunError(MiproError):
    """A program run on a Ray worker raised an exception that is not worth retrying."""


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise InvalidInputError("RayBackend needs Ray: pip install 'mipro-core[ray]'") from exc
    return ray


def _reference(obj: Any) -> str | None:
    """``module:qualname`` when a worker can import ``obj`` by that name, else None."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<" in qualname:
        return None
    try:
        found = _ray_worker.load_reference(f"{module}:{qualname}")
    except Exception:
        return None
    return f"{module}:{qualname}" if found is obj else None


def _check_spec(value: str | None, field: str) -> None:
    if value is None:
        return
    module, sep, attribute = value.partition(":")
    if not sep or not module or not attribute:
        raise InvalidInputError(f"RayBackend.{field} must be 'module:attribute', got {value!r}")


@attrs.frozen(kw_only=True)
class RayBackend:
    """Run the program's runs on Ray workers.

    Each worker rebuilds the program from ``factory`` (``module:attribute`` naming the app or a
    zero-argument function returning it, as the CLI's APP) and applies the candidate state,
    sent as JSON, before each run; it returns the run's trace, and the metric's score when the
    metric is importable on the workers (else the metric runs here on the prediction, which
    must then be JSON). The driver keeps the search, the journal and every budget, so resume
    and caps behave as with local threads; ``num_threads`` is the number of runs in flight.

    Args:
        factory: ``module:attribute`` of the app (or of a factory of it), importable on workers.
        address: a running cluster's address; ``None`` starts a local instance for the run
            (and stops it afterwards) unless Ray is already initialised in this process.
        metric: ``module:attribute`` of the metric for the workers; ``None`` derives it from
            the metric passed to ``optimize`` when that is importable, else scores here.
        num_cpus: CPUs of a local instance started for the run (``None``: all of them).
        runtime_env: Ray's ``runtime_env`` for a started instance (e.g. ``working_dir``,
            ``env_vars``) so workers can import the factory and metric.
        max_retries: how often Ray re-runs a run whose worker died.
    """

    factory: str
    address: str | None = None
    metric: str | None = None
    num_cpus: int | None = None
    runtime_env: Mapping[str, Any] | None = None
    max_retries: int = 3

    def __attrs_post_init__(self) -> None:
        _check_spec(self.factory, "factory")
        _check_spec(self.metric, "metric")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise InvalidInputError("RayBackend.max_retries must be an int >= 0")
        if self.max_retries < 0:
            raise InvalidInputError("RayBackend.max_retries must be an int >= 0")
        if self.num_cpus is not None and (not isinstance(self.num_cpus, int) or self.num_cpus < 1):
            raise InvalidInputError("RayBackend.num_cpus must be an int >= 1 or None")

    def connect(self, program: Program, metric: Metric, examples: Sequence[Example]) -> RaySession:
        """Start (or join) Ray and return the session that wraps ``program`` and ``metric``."""
        ray = _ray()
        started = False
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address is not None:
                options["address"] = self.address
            elif self.num_cpus is not None:
                options["num_cpus"] = self.num_cpus
            if self.runtime_env is not None:
                options["runtime_env"] = dict(self.runtime_env)
            ray.init(**options)
            started = True
        session = RaySession(self, ray, started, program, metric, examples)
        try:
            session.check_fit()
        except BaseException:
            session.close()
            raise
        return session


class RaySession:
    """One run's connection to Ray: the wrapped program and metric, closed when the run ends."""

    def __init__(
        self,
        backend: RayBackend,
        ray: Any,
        started: bool,
        program: Program,
        metric: Metric,
        examples: Sequence[Example],
    ) -> None:
        self.backend = backend
        self._ray = ray
        self._started = started
        self._remote_run = ray.remote(max_retries=backend.max_retries)(_ray_worker.run_example)
        self._remote_describe = ray.remote(max_retries=backend.max_retries)(_ray_worker.describe)
        self.metric_ref = backend.metric or _reference(getattr(metric, "metric", metric))
        by_inputs: dict[str, list[Example]] = {}
        for example in examples:
            by_inputs.setdefault(_inputs_key(example.inputs), []).append(example)
        # the worker scores a run only when its inputs name one example (the gold is known)
        self._examples = {key: group[0] for key, group in by_inputs.items() if len(group) == 1}
        self.program = RemoteProgram(self, program, apply_locally=True)
        self.metric = _RemoteScoredMetric(metric)

    def check_fit(self) -> None:
        """Refuse a factory whose program has other modules or signatures than the driver's."""
        remote = json.loads(self._ray.get(self._remote_describe.remote(self.backend.factory)))
        local = {n: m.signature.to_dict() for n, m in self.program.modules.items()}
        if json.loads(json.dumps(local, sort_keys=True)) != remote:
            raise InvalidInputError(
                f"RayBackend.factory {self.backend.factory} builds a program with modules "
                f"{sorted(remote)} (or other signatures) than the program passed to optimize "
                f"{sorted(local)}: the workers must build the same app"
            )

    def run(self, state_json: str | None, inputs: Mapping[str, Any]) -> tuple[Any, Trace]:
        """One run on a worker; the prediction carries the worker's score when it has one."""
        key = _inputs_key(inputs)
        example = self._examples.get(key) or Example(inputs=dict(inputs), outputs={})
        metric_ref = self.metric_ref if key in self._examples else None
        try:
            text = self._ray.get(
                self._remote_run.remote(
                    self.backend.factory, state_json, json.dumps(example.to_dict()), metric_ref
                )
            )
        except self._ray.exceptions.RayTaskError as exc:  # the task itself failed to run
            raise RemoteRunError(f"Ray task failed: {exc}") from None
        except self._ray.exceptions.RayError as exc:  # a worker or node died past its retries
            raise TransientLMError(f"Ray could not run the program: {type(exc).__name__}") from exc
        outcome = json.loads(text)
        if "error" in outcome:
            raise _raised(outcome["error"])
        trace = Trace.from_dict(outcome["trace"])
        prediction = outcome["prediction"]
        if not outcome["carried"]:
            prediction = UncarriedPrediction(str(prediction))
        # the evaluator scores a run in the thread that ran it, right after the run: the metric
        # finds the worker's scores here, tied to this very prediction object
        _last.outcome = WorkerScores(
            example.id if metric_ref else None, prediction, outcome.get("scores")
        )
        return prediction, trace

    def close(self) -> None:
        """Stop the local Ray instance if this session started it."""
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
        self._started = False


def _inputs_key(inputs: Mapping[str, Any]) -> str:
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
    """A worker's prediction that JSON could not carry back: only its ``repr`` is here."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


@attrs.frozen
class WorkerScores:
    """The metric's scores a worker computed for one run's prediction."""

    example_id: str | None
    prediction: Any
    scores: Mapping[str, Any] | None


_last = threading.local()
"""Per evaluator thread: the :class:`WorkerScores` of the run this thread made last."""


class _RemoteScoredMetric:
    """The user's metric, answered from the worker's score when the worker computed one."""

    def __init__(self, metric: Metric) -> None:
        self.metric = metric

    def __call__(self, example: Example, prediction: Any, trace: Trace | None = None) -> Any:
        found: WorkerScores | None = getattr(_last, "outcome", None)
        if found is not None and found.prediction is prediction:
            scores = found.scores
            if scores is not None and found.example_id == example.id:
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

    def __init__(self, session: RaySession, local: Program, *, apply_locally: bool) -> None:
        self._session = session
        self._local = local
        self._apply_locally = apply_locally
        # the full state the workers apply (a partial apply keeps the other modules' states)
        self._state = {name: m.state.to_dict() for name, m in local.modules.items()}
        self._lock = threading.Lock()

    @property
    def modules(self) -> Mapping[str, Module]:
        return self._local.modules

    def apply(self, state: ProgramState) -> None:
        """Record the state the workers apply; the original also gets it locally (write-back)."""
        with self._lock:
            self._state = {**self._state, **state.to_dict()}
        if self._apply_locally:
            self._local.apply(state)

    def run(self, inputs: Mapping[str, Any]) -> tuple[Any, Trace]:
        with self._lock:
            state_json = json.dumps(self._state, sort_keys=True)
        return self._session.run(state_json, inputs)

    def describe(self) -> str:
        return self._local.describe()

    def clone(self) -> RemoteProgram:
        """A replica for a parallel trial: its own state, the same workers, no local writes."""
        replica = RemoteProgram(self._session, self._local, apply_locally=False)
        with self._lock:
            replica._state = dict(self._state)
        return replica
