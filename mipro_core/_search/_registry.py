"""Named samplers, and a sampler's settings as journal data.

A sampler is known by name when it is built in (``tpe``, ``random``), declared by an installed
distribution in the ``mipro.samplers`` entry-point group (``name = "package.module:Class"``), or
registered in-process with :func:`register_sampler`. Entry points load lazily, once, on first
use, each inside its own ``try``: a broken one is skipped with a
:class:`~mipro_core.plugins.PluginWarning`. ``MIPRO_DISABLE_PLUGIN_AUTOLOAD`` turns entry-point
loading off, as for adapters.

A journal records a sampler as ``{"name", "type", "params"}``: its registered name, its class
name and its settings (:func:`sampler_settings`). Resume rebuilds it by calling the registered
class with those settings as keyword arguments; nothing the journal names is imported.
"""

from __future__ import annotations

import json
import math
import threading
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .._errors import InvalidInputError, JournalError
from ._random import RandomSampler
from ._sampler import Sampler
from ._tpe import TPESampler

if TYPE_CHECKING:
    import importlib.metadata

ENTRY_POINT_GROUP = "mipro.samplers"
SamplerFactory = Callable[..., Sampler]
BUILTIN: Mapping[str, SamplerFactory] = {"tpe": TPESampler, "random": RandomSampler}
_LEGACY_TYPES = {"TPESampler": "tpe", "RandomSampler": "random"}
"""Journals written before samplers had names recorded only the class name."""

_lock = threading.RLock()
_factories: dict[str, SamplerFactory] | None = None
_failures: list[tuple[str, str]] = []


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    import importlib.metadata

    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    return sorted(found, key=lambda ep: (ep.name, ep.value))


def _load() -> dict[str, SamplerFactory]:
    from .._plugin_manager import PluginWarning, _autoload_enabled

    factories: dict[str, SamplerFactory] = dict(BUILTIN)
    if not _autoload_enabled():
        return factories
    for ep in _entry_points():
        try:
            if ep.name in factories:
                raise InvalidInputError(f"the name {ep.name!r} is already taken")
            factory = ep.load()
            if not callable(factory):
                raise InvalidInputError(f"{ep.value} is not a class or factory")
        except (Exception, SystemExit) as exc:
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())
            _failures.append((ep.name, reason))
            warnings.warn(
                f"mipro: skipped sampler plugin {ep.name!r} ({ep.value}): {reason}",
                PluginWarning,
                stacklevel=3,
            )
            continue
        factories[ep.name] = factory
    return factories


def _registry() -> dict[str, SamplerFactory]:
    global _factories
    with _lock:
        if _factories is None:
            _failures.clear()
            _factories = _load()
        return _factories


def reset_samplers() -> None:
    """Forget loaded and registered samplers; the next use reloads entry points (for tests)."""
    global _factories
    with _lock:
        _factories = None


def available_samplers() -> dict[str, SamplerFactory]:
    """Every sampler known by name: built-ins, entry points, in-process registrations."""
    return dict(_registry())


def failed_samplers() -> list[tuple[str, str]]:
    """``(entry-point name, reason)`` for every sampler plugin that failed to load."""
    _registry()
    return list(_failures)


def register_sampler(name: str, factory: SamplerFactory) -> None:
    """Make ``factory`` (a sampler class) known as ``name``, for ``--sampler`` and resume.

    Raises :class:`~mipro_core.InvalidInputError` when the name is taken or empty.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"a sampler name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise InvalidInputError(f"sampler {name!r}: {factory!r} is not a class or factory")
    with _lock:
        registry = _registry()
        if name in registry:
            raise InvalidInputError(f"the sampler name {name!r} is already taken")
        registry[name] = factory


def unregister_sampler(name: str) -> None:
    """Forget a sampler registered with :func:`register_sampler` (built-ins stay)."""
    with _lock:
        registry = _registry()
        if name in BUILTIN or name not in registry:
            raise InvalidInputError(f"{name!r} is not a registered sampler plugin")
        del registry[name]


def make_sampler(name: str, **settings: Any) -> Sampler:
    """Build the sampler registered as ``name`` with ``settings`` (its keyword arguments)."""
    registry = _registry()
    if name not in registry:
        raise InvalidInputError(
            f"unknown sampler {name!r}; available: {', '.join(sorted(registry))} (install a "
            f"distribution that declares it in the {ENTRY_POINT_GROUP!r} entry-point group)"
        )
    try:
        sampler: Sampler = registry[name](**settings)
    except InvalidInputError:
        raise
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"sampler {name!r} rejected settings {settings}: {exc}") from exc
    return sampler


def sampler_name(sampler: Sampler) -> str | None:
    """The name ``type(sampler)`` is registered under, or ``None``."""
    for name, factory in sorted(_registry().items()):
        if factory is type(sampler):
            return name
    return None


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def sampler_settings(sampler: Sampler, *, strict: bool = True) -> dict[str, Any]:
    """The settings that rebuild ``sampler`` (``type(sampler)(**settings) == sampler``).

    From the sampler's own ``settings()`` method when it has one, else from its attrs fields
    (a field left at a default that is not plain data, such as ``TPESampler``'s default
    ``gamma``, is omitted), else ``{}`` for an object with no attributes. A setting that is not
    plain JSON data (a custom ``gamma`` function) cannot be recorded: ``strict`` raises
    :class:`~mipro_core.InvalidInputError`, else it is left out (for display).
    """
    kind = type(sampler).__name__
    own = getattr(sampler, "settings", None)
    if callable(own):
        settings = dict(own())
    elif attrs.has(type(sampler)):
        settings = {}
        for field in attrs.fields(type(sampler)):  # type: ignore[arg-type]
            if not field.init:
                continue
            value = getattr(sampler, field.name)
            if _plain(value):
                settings[field.name] = list(value) if isinstance(value, tuple) else value
            elif strict and value is not field.default:  # a non-plain default is implied
                raise _unrecordable(kind, f"{field.name}={value!r}")
        return settings
    else:
        state = getattr(sampler, "__dict__", None)
        if state and strict:
            raise _unrecordable(kind, f"attributes {sorted(state)}")
        return {}
    bad = [k for k, v in settings.items() if not (isinstance(k, str) and _plain(v))]
    if bad and strict:
        raise _unrecordable(kind, f"settings() entries {bad}")
    return {k: v for k, v in settings.items() if k not in bad}


def _unrecordable(kind: str, what: str) -> InvalidInputError:
    return InvalidInputError(
        f"the sampler {kind} cannot be recorded in a journal ({what} is not plain data), so a "
        "resumed run could not rebuild it: use plain settings (or give the sampler a "
        "settings() method returning its keyword arguments), or run without a journal"
    )


def sampler_spec(sampler: Sampler, *, strict: bool = True) -> dict[str, Any]:
    """``{"name", "type", "params"}`` for a journal (``strict``) or for display."""
    params = sampler_settings(sampler, strict=strict)
    if strict:
        json.dumps(params, allow_nan=False)  # checked by sampler_settings; a cheap guard
    return {"name": sampler_name(sampler), "type": type(sampler).__name__, "params": params}


def sampler_from_spec(spec: Mapping[str, Any], given: Sampler | None) -> Sampler:
    """The sampler a journal recorded: ``given`` if its settings match, else rebuilt by name.

    Raises :class:`~mipro_core.JournalError` when ``given`` differs from the recorded sampler,
    or when the recorded one is not installed here and none is given.
    """
    kind = spec.get("type")
    params = dict(spec.get("params") or {})
    if given is not None:
        try:
            mine = sampler_spec(given)
        except InvalidInputError as exc:
            raise JournalError(str(exc)) from exc
        if mine["type"] != kind or mine["params"] != params:
            raise JournalError(
                f"resume got sampler {mine['type']}({mine['params']}), but the journal's run "
                f"used {kind}({params}): pass the same sampler, or none to rebuild it"
            )
        return given
    name = spec.get("name") or _LEGACY_TYPES.get(str(kind))
    if not name or name not in _registry():
        raise JournalError(
            f"the journal's run used sampler {name or kind!r}, which is not registered here: "
            f"install the distribution that provides it, register it with "
            f"mipro_core.samplers.register_sampler(), or pass sampler=... to resume()"
        )
    try:
        sampler = make_sampler(name, **params)
    except InvalidInputError as exc:
        raise JournalError(f"cannot rebuild the journal's sampler {name!r}: {exc}") from exc
    if sampler_settings(sampler, strict=False) != params or type(sampler).__name__ != kind:
        raise JournalError(
            f"the sampler {name!r} installed here does not rebuild the journal's "
            f"{kind}({params}) exactly"
        )
    return sampler
