"""The built-in ``native`` plugin: objects that already speak mipro's protocols.

Registered by the plugin manager before any entry point, with ``trylast`` so that a framework
adapter always gets the first look at an object (a framework's model may be callable too).
"""

from __future__ import annotations

from typing import Any

from ._hookspecs import hookimpl
from ._protocols import LM, Program, is_program, looks_like_lm
from ._version import __version__

NAME = "native"


@hookimpl(trylast=True)
def mipro_adapt(obj: Any) -> Program | None:
    return obj if is_program(obj) else None


@hookimpl(trylast=True)
def mipro_wrap_lm(obj: Any) -> LM | None:
    if looks_like_lm(obj):
        lm: LM = obj
        return lm
    return None


@hookimpl
def mipro_adapter_info() -> dict[str, Any]:
    return {
        "name": NAME,
        "framework": "mipro_core (objects implementing mipro_core.Program / LM)",
        "version": __version__,
    }
