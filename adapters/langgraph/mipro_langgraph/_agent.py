"""The system prompt of LangGraph's prebuilt ReAct agent (``create_react_agent(prompt=...)``).

The agent's model node runs ``prompt_runnable | model``; how the prompt arrives decides what can
be optimized:

* a ``ChatPromptTemplate`` is the sequence's first step: the LangChain adapter rewrites it like
  any prompt;
* a ``str`` or a text ``SystemMessage`` is hidden in a lambda (``[system] + messages``): adapting
  replaces that lambda, in the agent's own sequence, by the equivalent
  ``ChatPromptTemplate([SystemMessage(text), MessagesPlaceholder("messages")])``, which renders the
  same messages and can carry an instruction and demos;
* a callable prompt is code mipro cannot rewrite: refused, with a message (prompt templates the
  function refers to are still found by the walk);
* no prompt: refused (there is no instruction to optimize; pass ``prompt="..."``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain_core.messages import SystemMessage
from langchain_core.prompts import BasePromptTemplate, ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableSequence

_PROMPT_STEP = "Prompt"  # the name create_react_agent gives its prompt runnable
_AGENT_MODULE = "langgraph.prebuilt.chat_agent_executor"


def is_agent_model_function(func: Any) -> bool:
    """Whether ``func`` is the model-calling function of a ``create_react_agent`` graph."""
    qualname = getattr(func, "__qualname__", "")
    return getattr(func, "__module__", "") == _AGENT_MODULE and qualname.startswith(
        "create_react_agent.<locals>."
    )


@dataclass
class AgentPrompt:
    """The prompt step of an agent's ``prompt | model`` sequence."""

    path: str
    sequence: RunnableSequence[Any, Any]
    text: str | None = None
    refusal: str | None = None
    function: Any = None

    def install_template(self) -> ChatPromptTemplate:
        """Replace the agent's prompt lambda by an equivalent, optimizable chat template."""
        assert self.text is not None
        template = ChatPromptTemplate.from_messages(
            [SystemMessage(content=self.text), MessagesPlaceholder("messages")]
        )
        self.sequence.first = template
        return template


def _closure(func: Any) -> dict[str, Any]:
    code = getattr(func, "__code__", None)
    cells = getattr(func, "__closure__", None) or ()
    if code is None:
        return {}
    values: dict[str, Any] = {}
    for name, cell in zip(code.co_freevars, cells, strict=False):
        try:
            values[name] = cell.cell_contents
        except ValueError:
            continue
    return values


def agent_prompt_of(sequence: RunnableSequence[Any, Any], path: str) -> AgentPrompt | None:
    """The agent prompt of a ``create_react_agent`` model sequence; ``None`` for a template."""
    first = sequence.first
    if isinstance(first, BasePromptTemplate):
        return None
    if getattr(first, "name", None) != _PROMPT_STEP or not hasattr(first, "func"):
        return None
    func = getattr(first, "func", None) or getattr(first, "afunc", None)
    if getattr(func, "__module__", None) != _AGENT_MODULE:
        return AgentPrompt(
            path,
            sequence,
            refusal=(
                f"the agent {path!r} has a callable prompt ({getattr(func, '__name__', func)}): "
                "mipro cannot rewrite a function's messages. Pass prompt= a string, a "
                "SystemMessage or a ChatPromptTemplate to optimize the system prompt (prompt "
                "templates the function refers to are still optimized)"
            ),
            function=func,
        )
    system = next(
        (v for v in _closure(func).values() if isinstance(v, SystemMessage)),
        None,
    )
    if system is None:
        return AgentPrompt(
            path,
            sequence,
            refusal=(
                f"the agent {path!r} has no system prompt: there is no instruction to optimize; "
                "create it with prompt='...' (a string, SystemMessage or ChatPromptTemplate)"
            ),
        )
    if not isinstance(system.content, str):
        return AgentPrompt(
            path,
            sequence,
            refusal=(
                f"the agent {path!r} has a system message made of content blocks; mipro rewrites "
                "text system prompts only: pass a string or a ChatPromptTemplate"
            ),
        )
    return AgentPrompt(path, sequence, text=system.content)
