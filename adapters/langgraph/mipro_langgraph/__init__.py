"""mipro for LangGraph: optimize the prompts of an existing compiled graph or agent in place.

``mipro_core.optimize(graph, ...)`` finds this adapter through the ``mipro`` entry point; use
:class:`LangGraphProgram` directly for options (``output_key``, ``config``, ``use_async``).

Names load on first access, so the plugin entry point (``mipro_langgraph.plugin``) does not
import LangGraph for users of other frameworks.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._program import LangGraphProgram

_LAZY = {"LangGraphProgram": "._program"}

__all__ = ["LangGraphProgram", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
