"""Agent demos: a traced conversation with tool calls keeps them, and renders as a worked example
in text (a demo never executes a tool)."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from mipro_langchain import LangChainProgram
from mipro_langchain._trace import jsonable

from mipro_core import Demo, ModuleState, ProgramState

CONVERSATION = [
    HumanMessage(content="What is 20 times 72?"),
    AIMessage(content="", tool_calls=[{"name": "calculator", "args": {"expression": "20 * 72"}, "id": "c1"}]),
    ToolMessage(content="1440", tool_call_id="c1", name="calculator"),
]  # fmt: skip


def test_a_traced_conversation_keeps_its_tool_calls_and_results() -> None:
    record = jsonable(CONVERSATION)
    assert record[1]["tool_calls"] == [
        {"name": "calculator", "args": {"expression": "20 * 72"}, "id": "c1"}
    ]
    assert record[2] == {
        "type": "tool",
        "content": "1440",
        "tool_call_id": "c1",
        "name": "calculator",
    }


def test_a_tool_call_demo_is_a_worked_example_in_text() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer."), MessagesPlaceholder("messages")]
    )
    program = LangChainProgram(prompt)
    (name,) = program.modules
    demo = Demo({"messages": jsonable(CONVERSATION)}, {"text": "1440"})
    program.apply(ProgramState({name: ModuleState("Answer.", (demo,))}))
    rendered = prompt.invoke({"messages": [("human", "What is 2 times 3?")]}).to_messages()
    assert [m.type for m in rendered] == ["system", "human", "ai", "human"]
    assert not any(isinstance(m, ToolMessage) for m in rendered)
    assert not any(isinstance(m, AIMessage) and m.tool_calls for m in rendered)
    assert rendered[1].text == (
        "What is 20 times 72?\n\n"
        "Worked example (the tools were already run; their calls and results are shown as text):\n"
        '- called calculator with {"expression": "20 * 72"}\n'
        "- calculator returned: 1440"
    )
    assert rendered[2].text == "1440"
