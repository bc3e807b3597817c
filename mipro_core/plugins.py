"""Plugins: how adapters and observers hook into mipro (pluggy, entry-point group ``mipro``).

An adapter distribution declares an entry point and marks its hook functions::

    # pyproject.toml
    [project.entry-points.mipro]
    toy = "mipro_toy_adapter.plugin"

    # mipro_toy_adapter/plugin.py
    from mipro_core.plugins import hookimpl

    @hookimpl
    def mipro_adapt(obj):
        return ToyProgram(obj) if isinstance(obj, ToyChain) else None

Hooks (see ``docs/adapters.md``): :func:`mipro_adapt`, :func:`mipro_wrap_lm`,
:func:`mipro_adapter_info`, and the observer hooks for loggers and experiment trackers (see
``docs/trackers.md``): :func:`mipro_run_started`, :func:`mipro_trial_completed`,
:func:`mipro_run_completed`, :func:`mipro_run_failed`. An observer registered in-process::

    class PrintScores:
        @hookimpl
        def mipro_trial_completed(self, trial):
            logging.info("trial %d: %s", trial.number, trial.score)

    with registered(PrintScores()):
        mipro_core.optimize(...)

Plugins load lazily, on the first call of :func:`get_plugin_manager` (which
:func:`mipro_core.adapt` makes), never when ``mipro_core`` is imported. A plugin that fails to
load is skipped with a :class:`PluginWarning` and listed by :func:`failed_plugins`. Set
``MIPRO_DISABLE_PLUGIN_AUTOLOAD=1`` to load no entry points, or ``MIPRO_PLUGINS=a,b`` to load
only the named ones.
"""

from __future__ import annotations

from ._hookspecs import (
    hookimpl,
    hookspec,
    mipro_adapt,
    mipro_adapter_info,
    mipro_run_completed,
    mipro_run_failed,
    mipro_run_started,
    mipro_trial_completed,
    mipro_wrap_lm,
)
from ._plugin_list import PluginInfo, list_plugins
from ._plugin_manager import (
    ALLOW_LIST_ENV,
    DISABLE_AUTOLOAD_ENV,
    ENTRY_POINT_GROUP,
    PluginWarning,
    failed_plugins,
    get_plugin_manager,
    register_plugin,
    registered,
    reset_plugin_manager,
    unregister_plugin,
)
from ._run_info import RunInfo

__all__ = [
    "ALLOW_LIST_ENV",
    "DISABLE_AUTOLOAD_ENV",
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "PluginWarning",
    "RunInfo",
    "failed_plugins",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
    "list_plugins",
    "mipro_adapt",
    "mipro_adapter_info",
    "mipro_run_completed",
    "mipro_run_failed",
    "mipro_run_started",
    "mipro_trial_completed",
    "mipro_wrap_lm",
    "register_plugin",
    "registered",
    "reset_plugin_manager",
    "unregister_plugin",
]
