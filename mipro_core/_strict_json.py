"""Reading JSON strictly: no duplicate keys, no ``NaN`` / ``Infinity``, no float that overflows.

Python's :func:`json.loads` accepts all three silently (the last duplicate wins, ``NaN`` and
``1e999`` become floats); files are data, so mipro refuses them with a message naming the value.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["StrictJSONError", "finite_float", "loads", "reject_constant", "unique_keys"]


class StrictJSONError(ValueError):
    """Valid JSON syntax that strict JSON refuses (the message names the value)."""


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An ``object_pairs_hook``: the object as a dict; raises :class:`StrictJSONError` on a
    duplicate key."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise StrictJSONError(f"duplicate key {key!r}")
        result[key] = value
    return result


def reject_constant(name: str) -> Any:
    """A ``parse_constant`` hook: raises :class:`StrictJSONError` for ``NaN`` / ``Infinity``."""
    raise StrictJSONError(f"{name} is not a valid JSON number")


def finite_float(text: str) -> float:
    """A ``parse_float`` hook: the number; raises :class:`StrictJSONError` when it overflows."""
    value = float(text)
    if not math.isfinite(value):
        raise StrictJSONError(f"number {text[:40]} is out of range")
    return value


def loads(text: str, *, finite: bool = True) -> Any:
    """``text`` parsed as strict JSON.

    Args:
        text: one JSON document.
        finite: also refuse a float literal that overflows to infinity (``1e999``).

    Returns:
        The parsed value.

    Raises:
        StrictJSONError: a duplicate key, ``NaN`` / ``Infinity``, or (``finite``) an overflow.
        json.JSONDecodeError: the text is not JSON.
        ValueError: a value Python refuses (e.g. an integer literal with thousands of digits).
        RecursionError: the document is nested too deeply.
    """
    return json.loads(
        text,
        object_pairs_hook=unique_keys,
        parse_constant=reject_constant,
        parse_float=finite_float if finite else float,
    )
