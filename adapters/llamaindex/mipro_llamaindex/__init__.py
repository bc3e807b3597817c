"""mipro for LlamaIndex: optimize the prompts of a query engine, chat engine or workflow in place.

``mipro_core.optimize(query_engine, trainset, metric)`` finds this adapter through the ``mipro``
entry point; use :class:`LlamaIndexProgram` directly to choose which prompts are searched.
Names are loaded on first use, so registering the plugin does not import LlamaIndex.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._lm import LlamaIndexLM
    from ._program import LlamaIndexModule, LlamaIndexProgram

__all__ = ["LlamaIndexLM", "LlamaIndexModule", "LlamaIndexProgram", "__version__"]

_LAZY = {
    "LlamaIndexLM": "._lm",
    "LlamaIndexModule": "._program",
    "LlamaIndexProgram": "._program",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
