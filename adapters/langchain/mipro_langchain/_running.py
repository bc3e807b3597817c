"""Running a chain: its input type, the per-run callback config, what a run returns, and the
error for a chain that cannot run synchronously."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import BaseCallbackHandler, BaseCallbackManager
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig

from mipro_core import InvalidInputError


def prediction_of(output: Any) -> Any:
    """What ``run`` returns: message text for a message (one with tool calls stays the message:
    the metric needs ``prediction.tool_calls``), a plain ``str`` for text, else as is."""
    if isinstance(output, BaseMessage):
        if getattr(output, "tool_calls", None):
            return output
        return str(output.text)
    if isinstance(output, str):
        return str(output)
    return output


def input_type(runnable: Runnable[Any, Any]) -> Any:
    try:
        return runnable.InputType
    except Exception:  # some runnables cannot infer it: treat the input as a dict
        return None


def with_callback(config: RunnableConfig, handler: BaseCallbackHandler) -> RunnableConfig:
    """A copy of ``config`` whose callbacks also include ``handler``."""
    callbacks = config.get("callbacks")
    if isinstance(callbacks, BaseCallbackManager):
        manager = callbacks.copy()
        manager.add_handler(handler, inherit=True)
        return {**config, "callbacks": manager}
    return {**config, "callbacks": [*(callbacks or []), handler]}


SYNC_ENTRY_POINTS = frozenset(
    {
        "_generate",
        "_stream",
        "_call",
        "_run",
        "_invoke",
        "invoke",
        "stream",
        "batch",
        "transform",
        "_transform",
        "_get_relevant_documents",
        "_batch",
    }
)
"""Methods of a LangChain component that stand for its synchronous path."""


def lacks_sync_path(exc: NotImplementedError) -> bool:
    """Whether ``exc`` says a LangChain component has no synchronous implementation: it was
    raised by one of the component's sync entry points (a chat model's ``_generate``, a tool's
    ``_run``), not by user code further down (a step that does not support some input), which
    is that run's failure."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    frame = tb.tb_frame
    owner = frame.f_locals.get("self")
    return frame.f_code.co_name in SYNC_ENTRY_POINTS and isinstance(owner, Runnable)


def no_sync_path_error(exc: NotImplementedError, fix: str) -> InvalidInputError:
    """A step raised ``NotImplementedError`` on the synchronous path (a model with only
    ``_agenerate``, a tool made with ``coroutine=`` only): every run would fail the same way,
    so the optimization stops at once, naming the switch to ``ainvoke``."""
    return InvalidInputError(
        f"a step of this app raised NotImplementedError on invoke ({exc}): a step with only an "
        "async implementation (a chat model with only _agenerate, a tool made with coroutine= "
        f"only) runs with ainvoke: adapt the app as {fix} and pass that program to "
        "mipro_core.optimize"
    )
