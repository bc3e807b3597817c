"""The text of a failing run's prediction that proposers are shown and journals keep.

It must be the same in every run of the same answer: a proposer prompt that differs from run to
run writes another instruction (the run is no longer determined by its seed) and misses the
journal on resume (the call is paid again). ``repr`` is not: an object without a ``__repr__``
shows its memory address, and a chat message its run id and token counts. Plain data keeps its
``repr`` (a set's elements sorted: its order follows the hash seed); a chat message becomes
``role: text``; any other object its ``repr`` without memory addresses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_MAX_DEPTH = 20


class _Shown(str):
    """Text that stands for an object inside a container's ``repr`` (shown unquoted)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def prediction_text(prediction: Any, limit: int = 500) -> str:
    """``prediction`` as text the same in every run, cut to ``limit`` characters."""
    value = _stable(prediction, 0)
    text = value if isinstance(value, str) and not isinstance(value, _Shown) else repr(value)
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _stable(value: Any, depth: int) -> Any:
    """``value`` itself when its ``repr`` is stable, else a stand-in whose ``repr`` is."""
    if value is None or isinstance(value, (str, bytes, int, float, complex)):
        return value
    if depth >= _MAX_DEPTH:
        return _Shown(_ADDRESS.sub("", repr(value)))
    if isinstance(value, Mapping):
        items = [(_stable(k, depth + 1), _stable(v, depth + 1)) for k, v in value.items()]
        pairs = zip(items, value.items(), strict=True)
        if all(k is old_k and v is old_v for (k, v), (old_k, old_v) in pairs):
            return value
        return dict(items)
    if isinstance(value, (set, frozenset)):  # its repr follows the hash seed: sorted instead
        parts = sorted(repr(_stable(v, depth + 1)) for v in value)
        inner = "{" + ", ".join(parts) + "}" if parts else ""
        if isinstance(value, frozenset):
            return _Shown(f"frozenset({inner})")
        return _Shown(inner or "set()")
    if isinstance(value, (list, tuple)):
        parts = [_stable(v, depth + 1) for v in value]
        if all(new is old for new, old in zip(parts, value, strict=True)):
            return value
        return parts if isinstance(value, list) else tuple(parts)
    message = _message_text(value)
    if message is not None:
        return _Shown(message)
    return _Shown(_ADDRESS.sub("", repr(value)))


def _message_text(value: Any) -> str | None:
    """``role: text`` for a chat message (a class named ``...Message``, as LangChain's and
    LlamaIndex's, with a ``content`` string and a ``type`` or ``role``), its tool calls' names
    and arguments after it; else ``None``."""
    if not any(cls.__name__.endswith("Message") for cls in type(value).__mro__):
        return None
    content = getattr(value, "content", None)
    if not isinstance(content, str):
        text = getattr(value, "text", None)  # LangChain messages with content blocks
        content = text if isinstance(text, str) else None
    role = getattr(value, "type", None) or getattr(value, "role", None)
    if content is None or role is None:
        return None
    role = getattr(role, "value", role)  # LlamaIndex's MessageRole enum
    calls = getattr(value, "tool_calls", None)
    if isinstance(calls, list) and calls:
        named = [
            {"name": c.get("name"), "args": c.get("args")} for c in calls if isinstance(c, dict)
        ]
        tools = json.dumps(named, sort_keys=True, ensure_ascii=False, default=str)
        return f"{role}: {content} [tool calls: {tools}]"
    return f"{role}: {content}"
