"""The ``langgraph`` plugin of mipro (entry point ``mipro.langgraph``).

Importing this module does not import LangGraph: an object can only be a compiled graph if
``langgraph.pregel`` is already imported. A compiled graph is also a LangChain runnable, so this
plugin's ``mipro_adapt`` runs before the ``langchain`` plugin's (``tryfirst``).
"""

from __future__ import annotations

import sys
from typing import Any

from mipro_core import Program
from mipro_core.plugins import hookimpl

from ._version import __version__

NAME = "langgraph"


@hookimpl(tryfirst=True)
def mipro_adapt(obj: Any) -> Program | None:
    """A ``LangGraphProgram`` for a compiled graph (raises if it holds no prompt)."""
    if "langgraph.pregel" not in sys.modules:
        return None
    from langgraph.pregel import Pregel

    if not isinstance(obj, Pregel):
        return None
    from ._program import LangGraphProgram

    return LangGraphProgram(obj)


@hookimpl
def mipro_adapter_info() -> dict[str, Any]:
    info: dict[str, Any] = {"name": NAME, "framework": "langgraph", "version": __version__}
    try:
        from importlib.metadata import version

        info["framework_version"] = version("langgraph")
    except Exception:  # metadata missing: the adapter still works, it just cannot say
        pass
    return info
