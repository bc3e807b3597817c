"""Agents whose tools are async-only (a tool made with ``coroutine=`` only, as MCP tool adapters
make them) run on ``ainvoke``: on the sync path every tool call fails."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, create_react_agent
from lg_agent import ScriptedToolModel, calculator
from mipro_langgraph import LangGraphProgram

import mipro_core
from mipro_core import InvalidInputError


async def _calculate(expression: str) -> str:
    return str(calculator.invoke({"expression": expression}))


ASYNC_CALCULATOR = StructuredTool.from_function(
    coroutine=_calculate, name="calculator", description="Evaluate arithmetic, e.g. 47 * 86."
)
QUESTION = {"messages": [("user", "What is 20 * 72?")]}


def _tool_results(output: dict[str, Any]) -> list[str]:
    return [str(m.content) for m in output["messages"] if m.type == "tool"]


def test_a_prebuilt_agent_with_an_async_only_tool_runs_async() -> None:
    with warnings.catch_warnings():  # deprecated in favour of langchain.agents.create_agent
        warnings.simplefilter("ignore")
        agent = create_react_agent(
            ScriptedToolModel(), [ASYNC_CALCULATOR], prompt="Use the calculator."
        )
    program = LangGraphProgram(agent)
    assert program.use_async
    output, trace = program.run(QUESTION)
    assert _tool_results(output) == ["1440"]
    assert [c.module for c in trace.calls] == ["agent/prompt", "agent/prompt"]


def _graph(tool: BaseTool) -> Any:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Use the calculator."), MessagesPlaceholder("messages")]
    )
    builder = StateGraph(MessagesState)
    builder.add_node("agent", prompt | ScriptedToolModel() | (lambda m: {"messages": [m]}))
    builder.add_node("tools", ToolNode([tool]))
    builder.add_edge(START, "agent")
    builder.add_edge("agent", "tools")
    builder.add_edge("tools", END)
    return builder.compile()


def test_a_tool_node_of_a_user_graph_with_an_async_only_tool_runs_async() -> None:
    assert not LangGraphProgram(_graph(calculator)).use_async
    program = LangGraphProgram(_graph(ASYNC_CALCULATOR))
    assert program.use_async
    output, trace = program.run(QUESTION)
    assert _tool_results(output) == ["1440"]
    assert [c.module for c in trace.calls] == ["agent/steps[0]"]


class AsyncOnlyChatModel(BaseChatModel):
    """A model written for async apps: ``_agenerate`` only."""

    @property
    def _llm_type(self) -> str:
        return "async-only"

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        raise NotImplementedError("this model is async only")

    async def _agenerate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="async answer"))])


def test_an_async_only_model_fails_fast_naming_use_async_which_then_works() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer."), MessagesPlaceholder("messages")]
    )
    builder = StateGraph(MessagesState)
    builder.add_node("agent", prompt | AsyncOnlyChatModel() | (lambda m: {"messages": [m]}))
    builder.add_edge(START, "agent")
    builder.add_edge("agent", END)
    graph = builder.compile()
    data = [mipro_core.Example({"messages": [("user", f"q{i}?")]}, {"a": "x"}) for i in range(4)]
    with pytest.raises(InvalidInputError, match=r"LangGraphProgram\(graph, use_async=True\)"):
        mipro_core.optimize(graph, data, lambda ex, pred, trace=None: 0.0, progress=False)
    output, trace = LangGraphProgram(graph, use_async=True).run(QUESTION)
    assert output["messages"][-1].content == "async answer" and len(trace.calls) == 1


def test_a_not_implemented_error_from_a_node_function_is_that_run_s_failure() -> None:
    # user code that does not support some input: that run fails, the optimization goes on
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Use the calculator."), MessagesPlaceholder("messages")]
    )
    chain = prompt | ScriptedToolModel()

    def agent(state: MessagesState) -> dict[str, Any]:
        if "furlong" in str(state["messages"][-1].content):
            raise NotImplementedError("furlongs are not supported")
        return {"messages": [chain.invoke(state)]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    builder.add_edge("agent", END)
    program = LangGraphProgram(builder.compile())
    assert not program.use_async
    with pytest.raises(NotImplementedError, match="furlongs"):
        program.run({"messages": [("user", "How long is a furlong?")]})
    output, _ = program.run(QUESTION)
    assert output["messages"][-1].type == "ai"
