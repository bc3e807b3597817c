"""The process-wide plugin manager: created lazily, loads entry points one by one, never crashes.

Nothing here runs at import time. The first call of :func:`get_plugin_manager` (directly, or via
:func:`mipro_core.adapt` and friends) builds the manager: hook specifications, the built-in
``native`` plugin, then every entry point of group ``mipro`` in name order. Unlike pluggy's
``load_setuptools_entrypoints``, each entry point is loaded inside its own ``try``: a broken
plugin is skipped with a :class:`PluginWarning` naming it and the error, recorded for
:func:`failed_plugins` (and ``mipro plugins``), and the other plugins keep working.

Environment (read when the manager is built; :func:`reset_plugin_manager` re-reads it):

``MIPRO_DISABLE_PLUGIN_AUTOLOAD``
    Any value except ``""``, ``0``, ``false``, ``no``, ``off`` disables entry-point loading (the
    built-in plugin and plugins registered in-process still work).
``MIPRO_PLUGINS``
    A comma-separated allow-list of entry-point names (``MIPRO_PLUGINS=langchain,toy``). When the
    variable is set, only those entry points load; set but empty, none do. Use it to make runs
    reproducible regardless of what else is installed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs

from . import _native_plugin
from ._errors import InvalidInputError
from ._version import __version__

if TYPE_CHECKING:
    import importlib.metadata

    import pluggy

logger = logging.getLogger("mipro_core.plugins")

ENTRY_POINT_GROUP = "mipro"
DISABLE_AUTOLOAD_ENV = "MIPRO_DISABLE_PLUGIN_AUTOLOAD"
ALLOW_LIST_ENV = "MIPRO_PLUGINS"
NATIVE_PLUGIN = _native_plugin.NAME
_CORE_DISTRIBUTION = "mipro-core"


class PluginWarning(UserWarning):
    """A plugin failed to load, or an observer plugin raised; mipro carried on without it."""


@attrs.define
class _Registry:
    pm: pluggy.PluginManager
    autoload: bool
    allow: frozenset[str] | None
    failures: list[tuple[str, str]] = attrs.Factory(list)
    origins: dict[str, tuple[str | None, str | None, str | None]] = attrs.Factory(dict)
    """name -> (distribution, version, entry-point value)"""
    warned_observers: set[tuple[str, str]] = attrs.Factory(set)
    """(plugin name, hook name) pairs already warned about"""


class _PluginRejected(Exception):
    """A plugin object loaded but does not fit (no hooks, name taken, ...)."""


_lock = threading.RLock()
_registry: _Registry | None = None
_building: _Registry | None = None


def _autoload_enabled() -> bool:
    value = os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower()
    return value in ("", "0", "false", "no", "off")


def _allow_list() -> frozenset[str] | None:
    raw = os.environ.get(ALLOW_LIST_ENV)
    if raw is None:
        return None
    return frozenset(name.strip() for name in raw.split(",") if name.strip())


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _describe_error(exc: BaseException) -> str:
    return _one_line(f"{type(exc).__name__}: {exc}")


def _get_registry() -> _Registry:
    registry = _registry
    if registry is not None:
        return registry
    with _lock:
        if _registry is not None:
            return _registry
        if _building is not None:
            # Re-entered from a plugin's import: hand out the half-built manager.
            return _building
        return _build()


def _build() -> _Registry:
    global _registry, _building
    import pluggy

    from . import _hookspecs

    pm = pluggy.PluginManager(_hookspecs.PROJECT_NAME)
    pm.add_hookspecs(_hookspecs)
    registry = _Registry(pm=pm, autoload=_autoload_enabled(), allow=_allow_list())
    _building = registry
    try:
        pm.register(_native_plugin, name=NATIVE_PLUGIN)
        registry.origins[NATIVE_PLUGIN] = (_CORE_DISTRIBUTION, __version__, None)
        if registry.autoload:
            _load_entry_points(registry)
        else:
            logger.debug("plugin autoload disabled by %s", DISABLE_AUTOLOAD_ENV)
    finally:
        _building = None
    _registry = registry
    return registry


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    import importlib.metadata

    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    return sorted(found, key=lambda ep: (ep.name, ep.value))


def _dist_of(ep: importlib.metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    try:
        return str(dist.metadata["Name"]), str(dist.version)
    except Exception:  # a distribution with broken metadata still gets its plugin loaded
        return None, None


def _load_entry_points(registry: _Registry) -> None:
    entry_points = _entry_points()
    if registry.allow is not None:
        found = {ep.name for ep in entry_points}
        for name in sorted(registry.allow - found):
            logger.warning("%s names %r, but no such plugin is installed", ALLOW_LIST_ENV, name)
        entry_points = [ep for ep in entry_points if ep.name in registry.allow]
    for ep in entry_points:
        _load_entry_point(registry, ep)


def _load_entry_point(registry: _Registry, ep: importlib.metadata.EntryPoint) -> None:
    distribution, version = _dist_of(ep)
    origin = ep.value if distribution is None else f"{ep.value} from {distribution} {version}"
    try:
        if registry.pm.has_plugin(ep.name) or ep.name in registry.origins:
            raise _PluginRejected(f"the name {ep.name!r} is already taken by another plugin")
        plugin = ep.load()
        _register_checked(registry.pm, plugin, ep.name)
    except (Exception, SystemExit) as exc:
        reason = _describe_error(exc)
        registry.failures.append((ep.name, reason))
        warnings.warn(
            f"mipro: skipped plugin {ep.name!r} ({origin}): {reason}", PluginWarning, stacklevel=2
        )
        return
    registry.origins[ep.name] = (distribution, version, ep.value)
    logger.debug("loaded plugin %r (%s)", ep.name, origin)


def _register_checked(pm: pluggy.PluginManager, plugin: Any, name: str) -> None:
    """Register ``plugin`` and verify its hooks; leave ``pm`` unchanged when anything fails."""
    if pm.has_plugin(name):
        raise _PluginRejected(f"the name {name!r} is already taken by another plugin")
    if pm.is_registered(plugin):
        raise _PluginRejected(
            f"the same plugin object is already registered as {pm.get_name(plugin)!r}"
        )
    try:
        pm.register(plugin, name=name)
        if not pm.get_hookcallers(plugin):
            raise _PluginRejected(
                "it defines no mipro hook (decorate functions with mipro_core.plugins.hookimpl)"
            )
        pm.check_pending()
    except BaseException:
        if pm.has_plugin(name):
            pm.unregister(name=name)
        raise


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide :class:`pluggy.PluginManager`, built (and plugins loaded) on first use."""
    return _get_registry().pm


def reset_plugin_manager() -> None:
    """Forget the manager, its plugins and failures; the next use rebuilds it (for tests)."""
    global _registry
    with _lock:
        _registry = None


def register_plugin(plugin: Any, name: str | None = None) -> str:
    """Register an in-process plugin (a module, class or instance with ``@hookimpl`` functions).

    For adapters you have not packaged (a notebook, a test) and observers such as
    :class:`~mipro_core.integrations.mlflow.MLflowTracker`. Returns the name it was registered
    under (by default a module's or class's ``__name__``, else ``"<ClassName>@<hex id>"``);
    raises :class:`~mipro_core.InvalidInputError` when the name is taken or a hook does not
    match its specification. :func:`unregister_plugin` removes it; :func:`registered` does both
    around a ``with`` block.
    """
    registry = _get_registry()
    with _lock:
        chosen = name or _default_name(plugin)
        try:
            _register_checked(registry.pm, plugin, chosen)
        except Exception as exc:
            raise InvalidInputError(
                f"cannot register plugin {chosen!r}: {_describe_error(exc)}"
            ) from exc
        registry.origins.setdefault(chosen, (None, None, None))
    return chosen


def _default_name(plugin: Any) -> str:
    named = getattr(plugin, "__name__", None)
    if isinstance(named, str) and named:
        return named
    return f"{type(plugin).__name__}@{id(plugin):x}"


def unregister_plugin(plugin: Any) -> str:
    """Remove a registered plugin, given the object or the name it was registered under.

    Returns the name it had. Raises :class:`~mipro_core.InvalidInputError` when it is not
    registered, or for the built-in ``native`` plugin (set ``MIPRO_PLUGINS`` to keep entry-point
    plugins from loading instead).
    """
    registry = _get_registry()
    with _lock:
        if isinstance(plugin, str):
            name: str | None = plugin if registry.pm.get_plugin(plugin) is not None else None
        else:
            name = registry.pm.get_name(plugin)
        if name is None:
            raise InvalidInputError(f"cannot unregister {plugin!r}: it is not a registered plugin")
        if name == NATIVE_PLUGIN:
            raise InvalidInputError("the built-in 'native' plugin cannot be unregistered")
        registry.pm.unregister(name=name)
        registry.origins.pop(name, None)
        registry.warned_observers = {w for w in registry.warned_observers if w[0] != name}
    return name


@contextlib.contextmanager
def registered(plugin: Any, name: str | None = None) -> Iterator[str]:
    """Register ``plugin`` for the duration of a ``with`` block, which gets its name.

    ``with registered(MLflowTracker()): mipro_core.optimize(...)`` tracks just that run.
    """
    chosen = register_plugin(plugin, name)
    try:
        yield chosen
    finally:
        with contextlib.suppress(InvalidInputError):  # already unregistered inside the block
            unregister_plugin(chosen)


def failed_plugins() -> list[tuple[str, str]]:
    """``(entry-point name, reason)`` for every plugin that failed to load."""
    return list(_get_registry().failures)


def autoload_settings() -> tuple[bool, frozenset[str] | None]:
    """``(autoload enabled, allow-list or None)`` as read when the manager was built."""
    registry = _get_registry()
    return registry.autoload, registry.allow


OBSERVER_HOOKS = (
    "mipro_run_started",
    "mipro_trial_completed",
    "mipro_run_completed",
    "mipro_run_failed",
)
"""The hooks whose implementations are observers: all called, failures only warned about."""


def notify_trial_completed(trial: Any, run: Any = None) -> None:
    """Call every ``mipro_trial_completed`` observer; one that raises is warned about, not fatal."""
    notify("mipro_trial_completed", trial=trial, run=run)


def has_observers() -> bool:
    """Whether any registered plugin implements an observer hook."""
    hook = get_plugin_manager().hook
    return any(getattr(hook, name).get_hookimpls() for name in OBSERVER_HOOKS)


def notify(hook_name: str, **arguments: Any) -> None:
    """Call every implementation of observer hook ``hook_name`` (last registered first).

    An implementation that raises an :class:`Exception` is warned about with a
    :class:`PluginWarning` once per (plugin, hook) and manager; later failures are logged at
    DEBUG. ``BaseException`` (``KeyboardInterrupt``) propagates. Old- and new-style wrappers are
    not supported on observer hooks and are skipped.
    """
    registry = _get_registry()
    for impl in reversed(getattr(registry.pm.hook, hook_name).get_hookimpls()):
        if impl.wrapper or impl.hookwrapper:
            continue
        try:
            impl.function(*(arguments[arg] for arg in impl.argnames))
        except Exception as exc:
            reason = _describe_error(exc)
            key = (impl.plugin_name, hook_name)
            if key in registry.warned_observers:
                logger.debug("observer %r failed again in %s: %s", key[0], hook_name, reason)
                continue
            registry.warned_observers.add(key)
            logger.debug("observer %r failed in %s", key[0], hook_name, exc_info=exc)
            warnings.warn(
                f"mipro: observer plugin {impl.plugin_name!r} failed in "
                f"{hook_name}: {reason} (further failures are logged at DEBUG)",
                PluginWarning,
                stacklevel=2,
            )
