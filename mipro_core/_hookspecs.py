# mypy: disable-error-code="empty-body"
"""The pluggy markers and hook specifications of mipro (entry-point group ``mipro``).

Specifications are never called: pluggy reads their names, arguments and options. Every hook
listed here is documented in ``docs/adapters.md`` (a test checks it).
"""

from __future__ import annotations

from typing import Any

import pluggy

from ._protocols import LM, Program

PROJECT_NAME = "mipro"
"""The pluggy project name; also the entry-point group adapters register under."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marks a hook specification (only mipro itself defines these)."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a hook implementation in a plugin: ``@hookimpl def mipro_adapt(obj): ...``."""


@hookspec(firstresult=True)
def mipro_adapt(obj: Any) -> Program | None:
    """Turn a framework object into a :class:`~mipro_core.Program`, or return ``None``.

    Return ``None`` quickly for every object your adapter does not own (check its type; import
    your framework lazily or guard the import so a missing framework also means ``None``). The
    first non-``None`` result wins. Raise a :class:`~mipro_core.MiproError` with a clear message
    when the object *is* yours but cannot be optimized (e.g. it has no prompt to rewrite).
    """


@hookspec(firstresult=True)
def mipro_wrap_lm(obj: Any) -> LM | None:
    """Wrap a framework model object as an :class:`~mipro_core.LM` (the proposer's model).

    Return ``None`` for objects your adapter does not own. The first non-``None`` result wins.
    """


@hookspec
def mipro_trial_completed(trial: Any) -> None:
    """Observe one finished search trial (loggers, experiment trackers, progress bars).

    Called by the search engine after each trial is scored and journaled; ``trial`` is the
    engine's trial record. Observers must not mutate it. An observer that raises is reported
    with a warning and does not stop the optimization.
    """


@hookspec
def mipro_adapter_info() -> dict[str, Any]:
    """Describe the adapter for ``mipro plugins``.

    Return a dict such as ``{"name": "toy", "framework": "toychain", "version": "0.1.0"}``.
    Keys are free-form strings; ``name``, ``framework`` and ``version`` are shown.
    """
