"""The adapter's pluggy hooks, registered through the ``mipro`` entry-point group.

Loading this module is cheap: LlamaIndex is imported only when an object that comes from it is
offered to a hook.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from mipro_core import LM, Program
from mipro_core.plugins import hookimpl

from ._version import __version__

_FRAMEWORK_PREFIXES = ("llama_index.", "workflows.")


def _from_llamaindex(obj: Any) -> bool:
    return any(cls.__module__.startswith(_FRAMEWORK_PREFIXES) for cls in type(obj).__mro__)


@hookimpl
def mipro_adapt(obj: Any) -> Program | None:
    """A :class:`LlamaIndexProgram` for query engines, chat engines and workflows; any other
    LlamaIndex object (an index, a retriever, a tool, an LLM, an agent) raises
    :class:`~mipro_core.InvalidInputError` saying what is accepted."""
    if not _from_llamaindex(obj):
        return None
    from ._program import LlamaIndexProgram

    return LlamaIndexProgram(obj)


@hookimpl
def mipro_wrap_lm(obj: Any) -> LM | None:
    """A :class:`LlamaIndexLM` for any LlamaIndex LLM."""
    if not _from_llamaindex(obj):
        return None
    from llama_index.core.base.llms.base import BaseLLM

    from ._lm import LlamaIndexLM

    return LlamaIndexLM(obj) if isinstance(obj, BaseLLM) else None


@hookimpl
def mipro_adapter_info() -> dict[str, Any]:
    try:
        framework_version = version("llama-index-core")
    except PackageNotFoundError:  # pragma: no cover - the dependency is declared
        framework_version = "unknown"
    return {
        "name": "llamaindex",
        "version": __version__,
        "framework": f"llama-index-core {framework_version}",
        "accepts": "query engines, chat engines, Workflow instances; LLMs as proposer",
    }
