"""One run's Ray workers: threaded actors sized to the runs in flight, warmed before any LM call."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .._errors import InvalidInputError, TransientLMError
from .._protocols import Metric, Program
from .._types import Example, Trace
from . import _ray_worker
from ._ray_remote import (
    RemoteProgram,
    RemoteRunError,
    RemoteScoredMetric,
    inputs_key,
    read_outcome,
    worker_error,
)
from ._ray_start import settled, wait_started

if TYPE_CHECKING:
    from ._ray import RayBackend

logger = logging.getLogger("mipro_core.integrations.ray")


@attrs.frozen
class Layout:
    """How a run's Ray workers are laid out: ``actors`` worker processes of ``actor_cpus`` CPUs
    each, running up to ``per_actor`` runs at once; the driver keeps ``runs`` in flight."""

    runs: int
    actors: int
    per_actor: int
    actor_cpus: float


def plan(cluster_cpus: float, num_threads: int, num_cpus_per_run: float | None) -> Layout:
    """The layout for ``num_threads`` runs in flight on a cluster with ``cluster_cpus`` CPUs.

    Without ``num_cpus_per_run`` every thread gets a run in flight: at most one worker process
    per CPU, each running its share of the runs in threads (LM runs wait on I/O). With it, only
    the runs that fit the cluster at that many CPUs each are in flight."""
    if cluster_cpus <= 0:
        raise InvalidInputError("the Ray cluster has no CPUs to run the program on")
    runs = max(1, num_threads)
    if num_cpus_per_run is not None:
        fits = math.floor(cluster_cpus / num_cpus_per_run + 1e-9)
        if fits < 1:
            raise InvalidInputError(
                f"RayBackend.num_cpus_per_run={num_cpus_per_run} does not fit the Ray "
                f"cluster's {cluster_cpus:g} CPUs"
            )
        runs = min(runs, fits)
    if num_cpus_per_run is not None and num_cpus_per_run >= 1:
        return Layout(runs, runs, 1, num_cpus_per_run)
    actors = min(runs, max(1, math.floor(cluster_cpus)))
    per_actor = math.ceil(runs / actors)
    actors = math.ceil(runs / per_actor)
    cpus = min(1.0, cluster_cpus / actors)
    if num_cpus_per_run is not None:
        cpus = min(num_cpus_per_run * per_actor, cluster_cpus / actors)
    return Layout(runs, actors, per_actor, cpus)


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
        num_threads: int,
    ) -> None:
        self.backend = backend
        self._ray = ray
        self._started = started
        self._closed = False
        self.metric_ref = backend.metric or _reference(getattr(metric, "metric", metric))
        cpus = float(ray.cluster_resources().get("CPU", 0.0))
        self.layout = plan(cpus, num_threads, backend.num_cpus_per_run)
        logger.info(
            "Ray cluster fits %d runs at once (num_cpus_per_run=%s); num_threads=%d",
            self.layout.runs,
            backend.num_cpus_per_run,
            num_threads,
        )
        if self.layout.runs < num_threads:
            logger.warning(
                "Ray cluster fits %d runs at once (num_cpus_per_run=%s); num_threads=%d: the "
                "other runs wait on this machine, and a per-run timeout counts that wait",
                self.layout.runs,
                backend.num_cpus_per_run,
                num_threads,
            )
        options: dict[str, Any] = {
            "num_cpus": self.layout.actor_cpus,
            "max_concurrency": self.layout.per_actor,
            "max_restarts": backend.max_retries,
            # a run whose worker died comes back here as a transient failure, so the retry
            # policy reserves and counts its retry (a re-run inside Ray was never counted)
            "max_task_retries": 0,
        }
        if backend.runtime_env is not None and not started:
            options["runtime_env"] = dict(backend.runtime_env)
        self._actors: list[Any] = []
        try:
            worker = ray.remote(_ray_worker.RunWorker).options(**options)
            self._actors.extend(worker.remote() for _ in range(self.layout.actors))
        except ValueError as exc:  # Ray checks the runtime_env here (e.g. its working_dir)
            self._kill_actors()
            raise InvalidInputError(f"RayBackend.runtime_env: Ray refused it: {exc}") from None
        self._load = [0] * len(self._actors)
        self._slots = threading.BoundedSemaphore(self.layout.runs)
        self._lock = threading.Lock()
        self._outstanding: set[Any] = set()
        self._most_calls = max(1, len(program.modules))  # the most LM calls a run has made
        self._dead: set[int] = set()  # workers past their restarts: no run goes there
        by_inputs: dict[str, dict[str, Example]] = {}
        for example in examples:
            by_inputs.setdefault(inputs_key(example.inputs), {})[example.id] = example
        # sent with each run: the worker scores the run against every example with its inputs
        # (examples may share inputs with other labels) and the metric picks its example's
        self._examples = {
            key: json.dumps([e.to_dict() for e in group.values()])
            for key, group in by_inputs.items()
        }
        self.program = RemoteProgram(self, program, apply_locally=True)
        self.metric = RemoteScoredMetric(metric)

    def check_fit(self) -> None:
        """Start every worker (waiting ``start_timeout`` at most for the cluster to place them),
        build its programs and load the metric there, before any LM call; refuse a factory
        whose program differs from the driver's, and name why a worker could not start."""
        factory = self.backend.factory
        timeout = self.backend.start_timeout
        wait_started(self._ray, self._actors, self.layout.actor_cpus, timeout, factory)
        calls = [
            actor.describe.remote(factory, self.metric_ref, self.layout.per_actor)
            for actor in self._actors
        ]
        answers = settled(self._ray, calls, factory)
        remote = json.loads(answers[0])
        local = json.loads(
            json.dumps({n: m.signature.to_dict() for n, m in self.program.modules.items()})
        )
        if remote != local:
            raise InvalidInputError(
                f"RayBackend.factory {self.backend.factory} builds another program than the one "
                f"passed to optimize: {_difference(local, remote)}; the workers must build the "
                "same app"
            )

    def run(self, state_json: str | None, inputs: Mapping[str, Any]) -> tuple[Any, Trace]:
        """One run on a worker; the prediction carries the worker's score when it has one.

        A run waits here (not in Ray's queue) until a worker has room for it."""
        known = self._examples.get(inputs_key(inputs))
        examples_json = known or json.dumps([Example(inputs=dict(inputs), outputs={}).to_dict()])
        metric_ref = self.metric_ref if known else None  # no gold to score against
        with self._slots:
            with self._lock:
                if self._closed:
                    raise RemoteRunError("the run's Ray session has ended")
                alive = [i for i in range(len(self._load)) if i not in self._dead]
                if not alive:
                    raise RemoteRunError(
                        f"every Ray worker of the run died for good (after max_retries="
                        f"{self.backend.max_retries} restarts each); see the workers' logs"
                    )
                index = min(alive, key=self._load.__getitem__)
                self._load[index] += 1
                ref = self._actors[index].run_example.remote(
                    self.backend.factory, state_json, examples_json, metric_ref
                )
                self._outstanding.add(ref)
            try:
                text = self._ray.get(ref)
            except self._ray.exceptions.RayTaskError as exc:  # the task itself failed to run
                raise worker_error(exc) from None
            except self._ray.exceptions.RayError as exc:  # the worker died (or is restarting)
                if self._closed:
                    raise RemoteRunError("the run's Ray session ended during the run") from None
                self._check_alive(index)
                raise self._lost(exc) from exc
            finally:
                with self._lock:
                    self._load[index] -= 1
                    self._outstanding.discard(ref)
        try:
            prediction, trace = read_outcome(text)
        except Exception as exc:
            self._note_calls(getattr(exc, "mipro_lm_calls", None))
            raise
        self._note_calls(trace.lm_calls)
        return prediction, trace

    def _note_calls(self, calls: object) -> None:
        if isinstance(calls, int):
            with self._lock:
                self._most_calls = max(self._most_calls, calls)

    def _check_alive(self, index: int) -> None:
        """After a run was lost with worker ``index``: ask the worker whether it is back (Ray
        restarts it up to ``max_retries`` times); one that is gone for good gets no more runs,
        so its retries go to the others instead of failing at once, each counted as calls."""
        if index in self._dead:
            return
        try:
            self._ray.get(self._actors[index].ready.remote(), timeout=self.backend.start_timeout)
        except self._ray.exceptions.GetTimeoutError:
            return  # still restarting: runs go to it again once it is up
        except self._ray.exceptions.RayError:
            with self._lock:
                self._dead.add(index)
            logger.warning(
                "a Ray worker died for good (after max_retries=%d restarts): the run goes on "
                "with the other %d",
                self.backend.max_retries,
                len(self._actors) - len(self._dead),
            )

    def _lost(self, exc: BaseException) -> TransientLMError:
        """The transient failure of a run whose worker died: retried like a provider fault,
        its calls counted as the most a run has made (the worker cannot say how many it made
        before it died, and the provider bills them)."""
        error = TransientLMError(f"Ray could not run the program: {type(exc).__name__}")
        with self._lock:
            setattr(error, "mipro_lm_calls", self._most_calls)  # noqa: B010  # docs/adapters.md
        return error

    def close(self) -> None:
        """Cancel the runs still on the workers and stop them (and Ray, if this started it)."""
        with self._lock:
            self._closed = True
            outstanding = list(self._outstanding)
        for ref in outstanding:
            with contextlib.suppress(Exception):  # finished or gone meanwhile
                self._ray.cancel(ref)
        if self._ray.is_initialized():
            self._kill_actors()
            if outstanding:  # let the threads still waiting on them see the end before shutdown
                with contextlib.suppress(Exception):
                    self._ray.wait(outstanding, num_returns=len(outstanding), timeout=5.0)
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
        self._started = False

    def _kill_actors(self) -> None:
        for actor in self._actors:
            with contextlib.suppress(Exception):  # already dead
                self._ray.kill(actor)


def _difference(local: Mapping[str, Any], remote: Mapping[str, Any]) -> str:
    """What differs between the driver's modules (name -> signature) and the workers'."""
    if set(local) != set(remote):
        return f"the workers' program has modules {sorted(remote)}, this one {sorted(local)}"
    parts = []
    for name in sorted(local):
        if local[name] != remote[name]:
            here, there = _fields(local[name]), _fields(remote[name])
            if here == there:
                parts.append(f"module {name!r} has fields {here} on both sides, other descriptions")
            else:
                parts.append(f"module {name!r} has fields {there} on the workers, {here} here")
    return "; ".join(parts)


def _fields(signature: Any) -> str:
    if not isinstance(signature, Mapping):
        return json.dumps(signature, sort_keys=True)
    return f"{list(signature.get('inputs', []))} -> {list(signature.get('outputs', []))}"


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
