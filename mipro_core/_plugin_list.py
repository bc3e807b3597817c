"""What is installed: :func:`list_plugins` (``mipro plugins``) and the one-line summary
(:func:`adapters_summary`) that errors about missing adapters carry."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

from ._plugin_manager import (
    ALLOW_LIST_ENV,
    DISABLE_AUTOLOAD_ENV,
    NATIVE_PLUGIN,
    _get_registry,
    autoload_settings,
    failed_plugins,
)

if TYPE_CHECKING:
    import pluggy

__all__ = ["PluginInfo", "adapters_summary", "list_plugins"]

logger = logging.getLogger("mipro_core.plugins")


def _freeze(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


@attrs.frozen
class PluginInfo:
    """One registered plugin, as ``mipro plugins`` shows it.

    ``distribution`` and ``version`` come from the installed distribution that declared the
    entry point, ``entry_point`` is its value (``"package.module:attr"``); all three are
    ``None`` for plugins registered in-process. ``info`` merges what the plugin's
    ``mipro_adapter_info`` hook returned.
    """

    name: str
    distribution: str | None
    version: str | None
    info: Mapping[str, Any] = attrs.field(converter=_freeze, factory=dict)
    builtin: bool = False
    entry_point: str | None = None


def _adapter_infos(pm: pluggy.PluginManager) -> dict[str, dict[str, Any]]:
    infos: dict[str, dict[str, Any]] = {}
    for impl in pm.hook.mipro_adapter_info.get_hookimpls():
        try:
            result = impl.function()
        except Exception as exc:
            logger.warning("plugin %r: mipro_adapter_info failed: %s", impl.plugin_name, exc)
            continue
        if isinstance(result, Mapping):
            infos.setdefault(impl.plugin_name, {}).update({str(k): v for k, v in result.items()})
    return infos


def list_plugins() -> list[PluginInfo]:
    """Every registered plugin, in registration order (the built-in ``native`` plugin first)."""
    registry = _get_registry()
    infos = _adapter_infos(registry.pm)
    plugins = []
    for name, plugin in registry.pm.list_name_plugin():
        if plugin is None:  # a blocked name
            continue
        distribution, version, entry_point = registry.origins.get(name, (None, None, None))
        plugins.append(
            PluginInfo(
                name=name,
                distribution=distribution,
                version=version,
                info=infos.get(name, {}),
                builtin=name == NATIVE_PLUGIN,
                entry_point=entry_point,
            )
        )
    return plugins


def adapters_summary() -> str:
    """One line naming the installed adapters, failed ones and active settings (for errors)."""
    autoload, allow = autoload_settings()
    names = []
    for plugin in list_plugins():
        where = " ".join(x for x in (plugin.distribution, plugin.version) if x)
        names.append(f"{plugin.name} ({where})" if where else plugin.name)
    parts = ["installed adapters: " + ", ".join(names)]
    failed = failed_plugins()
    if failed:
        parts.append("failed to load: " + "; ".join(f"{n} ({why})" for n, why in failed))
    if not autoload:
        parts.append(f"entry-point plugins are disabled by {DISABLE_AUTOLOAD_ENV}")
    if allow is not None:
        parts.append(f"{ALLOW_LIST_ENV} allows only: {', '.join(sorted(allow)) or '(none)'}")
    return "; ".join(parts)
