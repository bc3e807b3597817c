"""A prebuilt ReAct agent over offline tools, and a scripted tool-calling chat model (test support).

The tools are those of the simulated ``tool_qa`` task (:func:`mipro_core.testing.load_tool_task`):
a calculator and a dictionary of the fictional Veltish language.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool

from mipro_core.testing import load_tool_task

TOOLS = load_tool_task().tools


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression with + - * on integers, e.g. "47 * 86"."""
    return TOOLS["calculator"](expression)


@tool
def dictionary(word: str) -> str:
    """The English word for a word of the Veltish language."""
    return TOOLS["dictionary"](word)


class ScriptedToolModel(BaseChatModel):
    """Calls ``calculator`` for arithmetic questions and ``dictionary`` for quoted words when the
    system prompt names the tool; answers ``Answer: <result>`` after a tool result, and when
    the system prompt says "only the answer", the bare result."""

    @property
    def _llm_type(self) -> str:
        return "scripted-tools"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedToolModel:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        system = " ".join(str(m.content) for m in messages if m.type == "system").lower()
        last = messages[-1]
        if isinstance(last, ToolMessage):
            text = str(last.content) if "only the answer" in system else f"Answer: {last.content}"
            return _result(AIMessage(content=text))
        question = str(last.content)
        arithmetic = re.search(r"(\d+\s*[-+*]\s*\d+)", question)
        word = re.search(r"'(\w+)'", question)
        if arithmetic and "calculator" in system:
            call = {"name": "calculator", "args": {"expression": arithmetic.group(1)}, "id": "c1"}
        elif word and "dictionary" in system:
            call = {"name": "dictionary", "args": {"word": word.group(1)}, "id": "c1"}
        else:
            return _result(AIMessage(content="I don't know."))
        return _result(AIMessage(content="", tool_calls=[call]))


def _result(message: AIMessage) -> ChatResult:
    return ChatResult(generations=[ChatGeneration(message=message)])


def build_agent(model: BaseChatModel, prompt: Any, **kwargs: Any) -> Any:
    from langgraph.prebuilt import create_react_agent

    with warnings.catch_warnings():  # deprecated in favour of langchain.agents.create_agent
        warnings.simplefilter("ignore")
        return create_react_agent(model, [calculator, dictionary], prompt=prompt, **kwargs)
