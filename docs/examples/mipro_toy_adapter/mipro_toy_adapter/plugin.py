"""The hooks mipro calls; the ``toy`` entry point in ``pyproject.toml`` names this module.

mipro imports this module when its plugin manager starts, so keep it light: an adapter for a
heavy framework imports the framework inside the hooks (and returns ``None`` when it is not
installed). Each hook returns ``None`` for objects that are not ToyChain's, so other adapters
get their turn.
"""

from __future__ import annotations

from typing import Any

from mipro_core import LM, Program
from mipro_core.plugins import hookimpl

from . import __version__
from .adapter import ToyLM, ToyProgram
from .toychain import ToyChain, ToyLLM


@hookimpl
def mipro_adapt(obj: Any) -> Program | None:
    return ToyProgram(obj) if isinstance(obj, ToyChain) else None


@hookimpl
def mipro_wrap_lm(obj: Any) -> LM | None:
    return ToyLM(obj) if isinstance(obj, ToyLLM) else None


@hookimpl
def mipro_adapter_info() -> dict[str, Any]:
    return {"name": "toy", "framework": "toychain (example)", "version": __version__}
