"""The ``langchain`` plugin of mipro (entry point ``mipro.langchain``).

Importing this module does not import LangChain: an object can only be a LangChain runnable or
model if ``langchain_core`` is already imported, so the hooks check ``sys.modules`` first and
decline everything else cheaply.
"""

from __future__ import annotations

import sys
from typing import Any

from mipro_core import LM, Program
from mipro_core.plugins import hookimpl

from ._version import __version__

NAME = "langchain"


def _langchain_loaded() -> bool:
    return "langchain_core.runnables" in sys.modules


@hookimpl
def mipro_adapt(obj: Any) -> Program | None:
    """A ``LangChainProgram`` for any LangChain runnable (raises if it holds no prompt)."""
    if not _langchain_loaded():
        return None
    from langchain_core.language_models import BaseLanguageModel
    from langchain_core.runnables import Runnable

    from ._discover import unwrap
    from ._program import LangChainProgram, NoPromptFoundError

    if not isinstance(obj, Runnable):
        return None
    if isinstance(unwrap(obj), BaseLanguageModel):
        raise NoPromptFoundError(
            f"{type(unwrap(obj)).__name__} is a model, not a chain: a model alone has no prompt "
            "to optimize. Pass the chain that uses it (e.g. prompt | model | parser); to use "
            "this model for instruction proposals, pass it as proposer_lm=..."
        )
    return LangChainProgram(obj)


@hookimpl
def mipro_wrap_lm(obj: Any) -> LM | None:
    """A ``LangChainLM`` for a ``BaseChatModel`` / ``BaseLLM`` (or a ``bind`` of one)."""
    if not _langchain_loaded():
        return None
    from ._lm import LangChainLM, is_language_model

    return LangChainLM(obj) if is_language_model(obj) else None


@hookimpl
def mipro_adapter_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "name": NAME,
        "framework": "langchain-core",
        "version": __version__,
    }
    try:
        from importlib.metadata import version

        info["framework_version"] = version("langchain-core")
    except Exception:  # metadata missing: the adapter still works, it just cannot say
        pass
    return info
