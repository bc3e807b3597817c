"""mipro for LangChain: optimize the prompts of an existing LCEL chain in place.

``mipro_core.optimize(chain, ...)`` finds this adapter through the ``mipro`` entry point; use
:class:`LangChainProgram` directly for options (``input_key``, ``use_async``).

Names load on first access, so the plugin entry point (``mipro_langchain.plugin``) does not
import LangChain for users of other frameworks.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._lm import LangChainLM
    from ._module import LangChainModule
    from ._program import (
        LangChainProgram,
        NoPromptFoundError,
        UnattributedCallWarning,
    )
    from ._trace import MODULE_KEY, ModuleInfo, TraceRecorder

_LAZY = {
    "MODULE_KEY": "._trace",
    "LangChainLM": "._lm",
    "LangChainModule": "._module",
    "LangChainProgram": "._program",
    "ModuleInfo": "._trace",
    "NoPromptFoundError": "._program",
    "TraceRecorder": "._trace",
    "UnattributedCallWarning": "._program",
}

__all__ = [
    "MODULE_KEY",
    "LangChainLM",
    "LangChainModule",
    "LangChainProgram",
    "ModuleInfo",
    "NoPromptFoundError",
    "TraceRecorder",
    "UnattributedCallWarning",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
