"""Program runs on a Ray cluster; the search, the journal and the budgets stay on the driver."""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .._errors import InvalidInputError
from .._protocols import Metric, Program
from .._types import Example
from ._ray_remote import RemoteRunError
from ._ray_session import RaySession
from ._ray_start import check_start_timeout

__all__ = ["RayBackend", "RaySession", "RemoteRunError"]

logger = logging.getLogger("mipro_core.integrations.ray")

CONNECT_SECONDS = 5.0
"""How long the preflight waits for a cluster address to accept a TCP connection."""


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise InvalidInputError("RayBackend needs Ray: pip install 'mipro-core[ray]'") from exc
    return ray


def _check_spec(value: str | None, field: str) -> None:
    if value is None:
        return
    module, sep, attribute = value.partition(":")
    if not sep or not module or not attribute:
        raise InvalidInputError(f"RayBackend.{field} must be 'module:attribute', got {value!r}")


ADDRESS_FORMS = "'host:port', 'ray://host:port' or 'auto'"
"""The cluster addresses :class:`RayBackend` accepts."""


def address_problem(address: str) -> str | None:
    """Why ``address`` is not a Ray cluster address (None: it is ``host:port``,
    ``ray://host:port`` or ``auto``)."""
    if not isinstance(address, str):
        return f"{address!r} is not a cluster address: use {ADDRESS_FORMS}"
    if address == "auto":
        return None
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if sep and host and port.isdigit() and "://" not in host and "/" not in host:
        return None
    return (
        f"{address!r} is not a cluster address: use {ADDRESS_FORMS} (e.g. 'head-node:6379', "
        "'ray://head-node:10001')"
    )


@attrs.frozen(kw_only=True)
class RayBackend:
    """Run the program's runs on Ray workers.

    Each worker rebuilds the program from ``factory`` (``module:attribute`` naming the app or a
    zero-argument function returning it, as the CLI's APP) and applies the candidate state,
    sent as JSON, before each run; it returns the run's trace, and the metric's score when the
    metric is importable on the workers (else the metric runs here on the prediction, which
    must then be JSON). The driver keeps the search, the journal and every budget, so resume
    and caps behave as with local threads; ``num_threads`` is the number of runs in flight
    (unless ``num_cpus_per_run`` lets fewer fit the cluster).

    The workers are threaded Ray actors, at most one per CPU of the cluster, each running
    several runs at once (LM runs mostly wait on the provider), every run on its own copy of
    the program; they are started, and their programs built, before any LM call. Workers the
    cluster cannot place within ``start_timeout``, or that die while building the program,
    stop the run there with an error naming why.

    Args:
        factory: ``module:attribute`` of the app (or of a factory of it), importable on workers.
        address: a running cluster's address (``host:port``, ``ray://host:port`` or
            ``auto``; anything else is refused at once); ``None`` starts a local instance for the run
            (and stops it afterwards) unless Ray is already initialised in this process.
        metric: ``module:attribute`` of the metric for the workers; ``None`` derives it from
            the metric passed to ``optimize`` when that is importable, else scores here.
        num_cpus: CPUs of a local instance started for the run (``None``: all of them).
        runtime_env: Ray's ``runtime_env`` for the workers (e.g. ``working_dir``, ``env_vars``
            such as API keys) so they can import the factory and metric and reach the model;
            it applies to the instance started for the run, or to this run's workers when Ray
            is already initialised.
        max_retries: how often Ray restarts a worker process that died. The runs lost with it
            are retried by the run's retry policy, as a provider fault is, each counting the
            most LM calls a run has made (an upper bound of what it paid before it died).
        num_cpus_per_run: CPUs one run needs (e.g. ``1`` for a program running a local
            model); only the runs that fit the cluster are in flight, the others wait on the
            driver. ``None`` (LM programs, I/O bound): all ``num_threads`` runs are in flight,
            in at most one worker process per CPU.
        start_timeout: seconds to wait for the cluster to place and start the workers (with
            their ``runtime_env``) before any LM call; past it the run is refused with an
            :class:`~mipro_core.InvalidInputError` saying what the workers asked for and what
            the cluster has. Building the programs on started workers is not counted.
    """

    factory: str
    address: str | None = None
    metric: str | None = None
    num_cpus: int | None = None
    runtime_env: Mapping[str, Any] | None = None
    max_retries: int = 3
    num_cpus_per_run: float | None = None
    start_timeout: float = 120.0

    def __attrs_post_init__(self) -> None:
        _check_spec(self.factory, "factory")
        _check_spec(self.metric, "metric")
        if self.address is not None:
            problem = address_problem(self.address)
            if problem is not None:
                raise InvalidInputError(f"RayBackend.address {problem}")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise InvalidInputError("RayBackend.max_retries must be an int >= 0")
        if self.max_retries < 0:
            raise InvalidInputError("RayBackend.max_retries must be an int >= 0")
        if self.num_cpus is not None and (not isinstance(self.num_cpus, int) or self.num_cpus < 1):
            raise InvalidInputError("RayBackend.num_cpus must be an int >= 1 or None")
        per_run = self.num_cpus_per_run
        if per_run is not None and (
            isinstance(per_run, bool) or not isinstance(per_run, (int, float)) or not per_run > 0
        ):
            raise InvalidInputError("RayBackend.num_cpus_per_run must be a number > 0 or None")
        check_start_timeout(self.start_timeout)

    def connect(
        self,
        program: Program,
        metric: Metric,
        examples: Sequence[Example],
        *,
        num_threads: int = 1,
    ) -> RaySession:
        """Start (or join) Ray, start and warm the workers (before any LM call) and return the
        session that wraps ``program`` and ``metric`` for ``num_threads`` runs in flight."""
        ray = _ray()
        started = False
        if ray.is_initialized():
            ignored = [f for f in ("address", "num_cpus") if getattr(self, f) is not None]
            if ignored:
                logger.warning(
                    "Ray is already initialised in this process: RayBackend %s do not apply "
                    "(runtime_env applies to this run's workers)",
                    " and ".join(ignored),
                )
        else:
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address is not None:
                check_reachable(self.address)
                options["address"] = self.address
            elif self.num_cpus is not None:
                options["num_cpus"] = self.num_cpus
            if self.runtime_env is not None:
                options["runtime_env"] = dict(self.runtime_env)
            try:
                ray.init(**options)
            except ValueError as exc:  # e.g. a runtime_env working_dir that does not exist
                settings = ", ".join(
                    k for k in ("address", "num_cpus", "runtime_env") if k in options
                )
                raise InvalidInputError(f"RayBackend: Ray refused {settings}: {exc}") from None
            started = True
        try:
            session = RaySession(self, ray, started, program, metric, examples, num_threads)
        except BaseException:
            if started:
                ray.shutdown()
            raise
        try:
            session.check_fit()
        except BaseException:
            session.close()
            raise
        return session


def check_reachable(address: str) -> None:
    """Refuse a ``host:port`` / ``ray://host:port`` address nothing answers at, before Ray
    spends minutes retrying it (``auto`` is left to Ray)."""
    text = address.removeprefix("ray://")
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS):
            pass
    except OSError as exc:
        raise InvalidInputError(
            f"RayBackend.address {address!r}: nothing answers at {host}:{port} ({exc}); start "
            "the cluster (ray start --head) or check the address"
        ) from None
