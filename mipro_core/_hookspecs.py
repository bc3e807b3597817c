# mypy: disable-error-code="empty-body"
"""The pluggy markers and hook specifications of mipro (entry-point group ``mipro``).

Specifications are never called: pluggy reads their names, arguments and options. Every hook
listed here is documented in ``docs/adapters.md`` (a test checks it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

from ._protocols import LM, Program

if TYPE_CHECKING:
    from ._result import OptimizationResult, Trial
    from ._run_info import RunInfo

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
def mipro_run_started(run: RunInfo) -> None:
    """Observe the start of an optimization run (a tracker opens its run and logs parameters).

    ``run`` (a :class:`~mipro_core.plugins.RunInfo`) carries the run id, strategy, seed,
    budget, search and proposer settings, sampler, data sizes, module names, library version
    and, on :func:`~mipro_core.resume`, ``resumed=True`` with the number of replayed trials.
    Called once per run, before the baseline is scored; dry runs call no run hook. Exactly one
    of :func:`mipro_run_completed` and :func:`mipro_run_failed` follows.
    """


@hookspec
def mipro_trial_completed(trial: Trial, run: RunInfo) -> None:
    """Observe one finished search trial (loggers, experiment trackers, progress bars).

    Called by the search engine after each trial is scored and journaled, in trial order, from
    the thread that called ``optimize``; ``trial`` is the engine's
    :class:`~mipro_core.Trial` record (trial 0 is the baseline) and ``run`` the same
    :class:`~mipro_core.plugins.RunInfo` as in :func:`mipro_run_started` (implementations may
    omit the argument). On resume, trials replayed from the journal are not notified again.
    Observers must not mutate their arguments. An observer that raises is reported with a
    warning and does not stop the optimization (this holds for every ``mipro_run_*`` hook).
    """


@hookspec
def mipro_run_completed(run: RunInfo, result: OptimizationResult) -> None:
    """Observe the end of a run that returned ``result`` (a tracker logs final metrics, uploads
    ``result.save(...)``'s artifact and closes its run).

    Also called when the search stopped early and still returned a result (budget exhausted,
    Ctrl-C during the search: ``result.stopped_reason`` says why). The journal, if any, is
    closed by then.
    """


@hookspec
def mipro_run_failed(run: RunInfo, error: BaseException) -> None:
    """Observe a run that raised ``error`` instead of returning (a tracker marks its run failed).

    ``error`` may be a :class:`KeyboardInterrupt` (Ctrl-C before the search began). The error
    propagates to the caller of ``optimize`` after every observer has been called.
    """


@hookspec
def mipro_adapter_info() -> dict[str, Any]:
    """Describe the adapter for ``mipro plugins``.

    Return a dict such as ``{"name": "toy", "framework": "toychain", "version": "0.1.0"}``.
    Keys are free-form strings; ``name``, ``framework`` and ``version`` are shown.
    """
