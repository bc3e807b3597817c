"""Mechanism (e): the simulated model calling tools on the ``tool_qa`` task."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mipro_core import InvalidInputError
from mipro_core.testing import SimulatedLM, load_tool_task
from mipro_core.testing._proposer_behaviour import evidence

TASK = load_tool_task()
TOOLS = [
    {"type": "function", "function": {"name": "calculator", "description": "Evaluate arithmetic",
                                      "parameters": {"properties": {"expression": {}}}}},
    {"type": "function", "function": {"name": "dictionary", "description": "Veltish to English",
                                      "parameters": {"properties": {"word": {}}}}},
]  # fmt: skip


def run(lm: SimulatedLM, system: str, question: str, prior: list[Any] = ()) -> str:  # type: ignore[assignment]
    messages: list[Any] = [{"role": "system", "content": system}, *prior]
    messages.append({"role": "user", "content": question})
    reply = lm.chat(messages, tools=TOOLS)
    if reply.get("tool_calls"):
        call = reply["tool_calls"][0]
        result = TASK.tools[call["function"]["name"]](**json.loads(call["function"]["arguments"]))
        messages += [reply, {"role": "tool", "tool_call_id": call["id"], "content": result}]
        reply = lm.chat(messages, tools=TOOLS)
    return str(reply["content"])


def accuracy(system: str, prior: list[Any] = ()) -> float:  # type: ignore[assignment]
    lm = SimulatedLM(0)
    examples = TASK.testset
    return sum(
        TASK.metric(e, run(lm, system, e.inputs["question"], prior)) for e in examples
    ) / len(examples)


def test_the_task_and_its_tools() -> None:
    assert (len(TASK.trainset), len(TASK.valset), len(TASK.testset)) == (30, 30, 40)
    assert TASK.tools["calculator"]("47 * 86") == "4042"
    assert TASK.tools["calculator"]("__import__('os')").startswith("error:")
    assert TASK.tools["dictionary"]("Brask") == "lantern"


def test_guidance_on_tools_and_format_raises_accuracy_and_worked_examples_help() -> None:
    plain = accuracy("You are a helpful assistant.")
    stated = accuracy(
        "Use the calculator tool for every arithmetic question. Look up every Veltish word with "
        "the dictionary tool. Reply with only the answer."
    )
    worked = [
        {"role": "user", "content": "What is 20 times 72?\n\n- called calculator with "
         '{"expression": "20 * 72"}\n- calculator returned: 1440'},
        {"role": "assistant", "content": "1440"},
    ]  # fmt: skip
    with_demo = accuracy("You are a helpful assistant.", worked)
    assert plain < 0.4 and stated > 0.8
    assert plain < with_demo < stated


def test_without_tools_or_outside_the_task_the_model_answers_in_text() -> None:
    lm = SimulatedLM(0)
    reply = lm.chat([{"role": "user", "content": "Hello?"}], tools=TOOLS)
    assert "tool_calls" not in reply and isinstance(reply["content"], str)
    with pytest.raises(InvalidInputError, match="tools"):
        lm.chat([{"role": "user", "content": "Hi"}], tools="calculator")


def test_the_proposer_finds_tool_rules_in_worked_examples_and_statements() -> None:
    shown = 'What is 20 times 72?\n[{"tool_calls": [{"name": "calculator"}]}]\ntext: 1440'
    assert dict(evidence(shown, 6.0)).get("calculator") == 1
    stated = "Always compute arithmetic with the calculator tool."
    assert dict(evidence(stated, 6.0)).get("calculator") == 6.0
    assert "calculator" not in dict(evidence("What is 20 times 72?\ntext: 1440", 6.0))


def test_chat_openai_calls_tools_through_the_local_server() -> None:
    pytest.importorskip("langchain_openai", reason="langchain-openai is not installed")
    from langchain_core.messages import ToolMessage
    from langchain_openai import ChatOpenAI

    from mipro_core.testing import serve_openai_compatible

    system = "Use the calculator tool for every arithmetic question. Reply with only the answer."
    with serve_openai_compatible(SimulatedLM(0)) as server:
        chat = ChatOpenAI(base_url=server.base_url, api_key="x", model="sim", temperature=0)
        bound = chat.bind_tools([TOOLS[0]])
        messages: list[Any] = [("system", system), ("human", "What is 20 times 72?")]
        first = bound.invoke(messages)
        assert first.tool_calls[0]["name"] == "calculator"
        assert first.tool_calls[0]["args"] == {"expression": "20 * 72"}
        result = ToolMessage(content="1440", tool_call_id=first.tool_calls[0]["id"])
        final = bound.invoke([*messages, first, result])
        assert final.content == "1440" and not final.tool_calls
        assert chat.invoke("Hello?").content  # no tools: the plain text path
