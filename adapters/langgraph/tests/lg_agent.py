"""A prebuilt ReAct agent over offline tools, and a scripted tool-calling chat model (test support)."""

from __future__ import annotations

import ast
import operator
import re
import warnings
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}
WORDS = {"chat": "cat", "chien": "dog", "maison": "house"}


def _evaluate(node: ast.AST) -> int:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return int(_OPS[type(node.op)](_evaluate(node.left), _evaluate(node.right)))
    raise ValueError("only + - * on integers")


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression with + - * on integers."""
    return str(_evaluate(ast.parse(expression, mode="eval").body))


@tool
def dictionary(word: str) -> str:
    """The English word for a French word."""
    return WORDS.get(word.lower(), "unknown")


class ScriptedToolModel(BaseChatModel):
    """Calls ``calculator`` for arithmetic questions and ``dictionary`` for French words when the
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
