"""Starting a run's Ray workers: a bounded wait for their placement, clear errors when they die.

Ray keeps an actor it cannot place (too few free CPUs, no node large enough) pending for ever,
and reports a worker process that died while building the program as an ``ActorDiedError``
with its ids and a page of possible causes. Here the wait ends after ``start_timeout`` with an
:class:`InvalidInputError` saying what the workers asked for and what the cluster has, and a
death names the factory and the one line of Ray's report that says why.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

from .._errors import InvalidInputError
from ._ray_remote import RemoteRunError, plain, worker_error

logger = logging.getLogger("mipro_core.integrations.ray")

NOTICE_SECONDS = 10.0
"""After this long without every worker started, a warning says what they wait for."""


def wait_started(
    ray: Any, actors: Sequence[Any], actor_cpus: float, timeout: float, factory: str
) -> None:
    """Wait until every actor is placed and its process runs, at most ``timeout`` seconds.

    Raises :class:`InvalidInputError` naming what is missing when they are not all started by
    then, or naming the cause when one could not start (its ``runtime_env``, a lost node)."""
    pending = [actor.ready.remote() for actor in actors]
    start = time.monotonic()
    warned = False
    while pending:
        waited = time.monotonic() - start
        if waited >= timeout:
            raise InvalidInputError(unplaced(ray, len(pending), len(actors), actor_cpus, timeout))
        if waited >= NOTICE_SECONDS and not warned:
            warned = True
            logger.warning(
                "%s; waiting up to %g s", _waiting(ray, len(pending), actor_cpus), timeout
            )
        step = min(timeout - waited, NOTICE_SECONDS)
        ready, pending = ray.wait(pending, num_returns=1, timeout=step)
        try:
            ray.get(ready)
        except ray.exceptions.RayError as exc:
            raise start_failure(ray, exc, factory) from None


def settled(ray: Any, calls: Sequence[Any], factory: str) -> list[Any]:
    """The answers of start-up ``calls``, read once all of them ended; the first failure is
    raised (see :func:`start_failure`) after every other one was read, so Ray logs none of
    them as an unhandled error with its remote traceback."""
    ray.wait(list(calls), num_returns=len(calls))
    answers: list[Any] = []
    failure: BaseException | None = None
    for call in calls:
        try:
            answers.append(ray.get(call))
        except ray.exceptions.RayError as exc:
            failure = failure or start_failure(ray, exc, factory)
    if failure is not None:
        raise failure from None
    return answers


def _free_cpus(ray: Any) -> tuple[float, float, float]:
    """The cluster's CPUs: in all, free now, and on its largest live node."""
    total = float(ray.cluster_resources().get("CPU", 0.0))
    free = float(ray.available_resources().get("CPU", 0.0))
    largest = max(
        (float(n.get("Resources", {}).get("CPU", 0.0)) for n in ray.nodes() if n.get("Alive")),
        default=0.0,
    )
    return total, free, largest


def _cpus(count: float) -> str:
    return f"{count:g} CPU" + ("" if count == 1 else "s")


def _waiting(ray: Any, pending: int, actor_cpus: float) -> str:
    total, free, _ = _free_cpus(ray)
    return (
        f"{pending} Ray worker(s) of {_cpus(actor_cpus)} each are not started yet; the cluster "
        f"has {_cpus(total)}, {free:g} free"
    )


def unplaced(ray: Any, pending: int, actors: int, actor_cpus: float, timeout: float) -> str:
    """Why ``pending`` of ``actors`` workers did not start within ``timeout`` and what to do."""
    total, free, largest = _free_cpus(ray)
    node = ""
    if largest < actor_cpus:
        node = f"; no node has more than {_cpus(largest)}, so none can hold a worker"
    return (
        f"{pending} of {actors} Ray workers did not start within {timeout:g} s "
        f"(RayBackend.start_timeout): each asks for {_cpus(actor_cpus)}, and the cluster has "
        f"{_cpus(total)}, {free:g} free{node}. Free CPUs on the cluster (other jobs or actors "
        "hold them), add nodes, lower num_threads or RayBackend.num_cpus_per_run, or raise "
        "start_timeout (an autoscaling cluster adding nodes, or a runtime_env installing "
        "packages, takes longer). No LM call was made."
    )


def start_failure(ray: Any, exc: BaseException, factory: str) -> BaseException:
    """What to raise when a worker could not start or build the program: a mipro error the
    worker raised as itself, else an :class:`InvalidInputError` naming the factory and why."""
    if isinstance(exc, ray.exceptions.RayTaskError):
        error = worker_error(exc)
        if not isinstance(error, RemoteRunError):
            return error  # a mipro error raised there names what it is about
        return InvalidInputError(f"RayBackend.factory {factory}: building the program: {error}")
    if isinstance(exc, ray.exceptions.RuntimeEnvSetupError):
        return InvalidInputError(
            f"RayBackend.runtime_env: Ray could not set up the workers' environment: "
            f"{_last_line(exc)}"
        )
    if isinstance(exc, ray.exceptions.RayActorError):
        return InvalidInputError(
            f"RayBackend.factory {factory}: a Ray worker process died while building the "
            f"program ({died(exc)}); build it with the factory on a node to see why (a "
            "process exit, a native crash, too little memory for the program)"
        )
    return InvalidInputError(
        f"RayBackend.factory {factory}: a Ray worker could not start: {type(exc).__name__}: "
        f"{_last_line(exc)}"
    )


def died(exc: BaseException) -> str:
    """The line of a dead actor's report that says why it died, without ids or the causes Ray
    lists for every death."""
    text = " ".join(plain(str(exc)).split())
    _, found, reason = text.partition("The actor is dead because ")
    if not found:
        return _last_line(exc)
    reason = reason.split(" Some common causes", 1)[0].split(" There are some potential", 1)[0]
    _, found, detail = reason.partition("Worker exit detail: ")
    return (detail if found else reason).strip().rstrip(".")


def _last_line(exc: BaseException) -> str:
    lines = [line.strip() for line in plain(str(exc)).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def check_start_timeout(value: object) -> None:
    """Refuse a ``RayBackend.start_timeout`` that is not a finite number of seconds > 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidInputError(
            f"RayBackend.start_timeout must be a finite number of seconds > 0, got {value!r}"
        )
