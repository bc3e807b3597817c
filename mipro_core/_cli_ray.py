"""``mipro optimize|resume --ray [ADDRESS]``: the Ray backend the flag asks for."""

from __future__ import annotations

import argparse
import os
from typing import Any

LOCAL_RAY = "local"
"""``--ray`` without an address: start a local Ray instance for the run."""


class _RayAddress(argparse.Action):
    """Stores ``--ray``'s address, refusing one that is not a cluster address at parse time
    (before the missing-APP error, when ``--ray`` swallowed APP)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if isinstance(values, str) and values != LOCAL_RAY:
            from .integrations._ray import address_problem

            problem = address_problem(values)
            if problem is not None:
                _, sep, after = values.partition(":")
                if sep and not after.isdigit() and "/" not in values:  # module:attr
                    parser.error(
                        f"--ray took {values!r} (APP?) as the cluster address: put --ray "
                        "after APP or write --ray=ADDRESS"
                    )
                parser.error(f"--ray {problem}")
        setattr(namespace, self.dest, values)


def add_ray_argument(group: Any) -> None:
    """``--ray [ADDRESS]``: the program's runs on Ray workers (see :func:`ray_backend`)."""
    group.add_argument(
        "--ray",
        nargs="?",
        const=LOCAL_RAY,
        default=None,
        action=_RayAddress,
        metavar="ADDRESS",
        help="run the program's runs on Ray workers (pip install 'mipro-core[ray]'): a local "
        "instance, or the cluster at ADDRESS (host:port, ray://host:port or auto; put --ray "
        "after APP or write --ray=ADDRESS); workers import APP and --metric themselves",
    )


def ray_backend(args: argparse.Namespace) -> Any:
    """The Ray backend ``mipro optimize --ray [ADDRESS]`` asks for, or None."""
    return ray_backend_for(args.ray, args.app, args.metric)


def ray_backend_for(address: str | None, app: str, metric: str | None) -> Any:
    """The Ray backend for ``--ray ADDRESS`` (None: no flag) whose workers import ``app``."""
    if address is None:
        return None
    from .integrations.ray import RayBackend

    if address == LOCAL_RAY:  # local workers import the app from this directory, as we do
        path = os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH")) if p)
        env = {"env_vars": {"PYTHONPATH": path}}
        return RayBackend(factory=app, metric=metric, runtime_env=env)
    return RayBackend(factory=app, metric=metric, address=address)
