"""A prebuilt ReAct agent over offline tools: its system prompt is optimized, demos are worked
examples in text, and the task score rises (the simulated ``tool_qa`` task)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from lg_agent import build_agent
from mipro_langchain import NoPromptFoundError
from mipro_langchain.testing import LMChatModel
from mipro_langgraph import LangGraphProgram

import mipro_core
from mipro_core import Demo, Example, ModuleState, ProgramState
from mipro_core.testing import SimulatedLM, load_tool_task

TASK = load_tool_task()
BASELINE = "You are a helpful assistant."


def as_agent_example(example: Example) -> Example:
    """The agent's input state: the question as the first user message."""
    messages = [{"role": "user", "content": example.inputs["question"]}]
    return Example({"messages": messages}, dict(example.outputs))


TRAIN = [as_agent_example(e) for e in TASK.trainset]
VAL = [as_agent_example(e) for e in TASK.valset]
TEST = [as_agent_example(e) for e in TASK.testset]


def score(program: LangGraphProgram, examples: list[Example]) -> float:
    return sum(TASK.metric(e, program.run(e.inputs)[0]) for e in examples) / len(examples)


def agent(prompt: Any = BASELINE) -> Any:
    return build_agent(LMChatModel(lm=SimulatedLM(0)), prompt)


def test_optimizing_the_system_prompt_and_worked_example_demos_raises_the_agent_score() -> None:
    graph = agent()
    program = LangGraphProgram(graph, output_key="messages")
    assert list(program.modules) == ["agent/prompt"]
    before = score(program, TEST)
    result = mipro_core.optimize(
        program,
        trainset=TRAIN,
        valset=VAL,
        metric=TASK.metric,
        max_trials=6,
        num_candidates=4,
        minibatch_size=15,
        seed=0,
        progress=False,
    )
    after = score(
        LangGraphProgram(graph, output_key="messages"), TEST
    )  # the user's graph, in place
    assert after >= before + 0.3, (before, after, result.state)


def test_a_traced_agent_step_becomes_a_worked_example_demo_that_runs_no_tool() -> None:
    graph = agent("Use the calculator tool for every arithmetic question.")
    program = LangGraphProgram(graph, output_key="messages")
    question = next(e for e in TEST if "times" in e.inputs["messages"][0]["content"])
    answer, trace = program.run(question.inputs)
    last = trace.calls[-1]
    kinds = [m["type"] for m in last.inputs["messages"]]
    assert kinds == ["human", "ai", "tool"]  # the tool call and its result are traced
    assert last.inputs["messages"][1]["tool_calls"][0]["name"] == "calculator"
    demo = Demo(last.inputs, last.outputs)
    program.apply(ProgramState({"agent/prompt": ModuleState("Answer.", (demo,))}))
    prompt = program.modules["agent/prompt"].prompt
    rendered = prompt.invoke({"messages": [("human", "What is 2 times 3?")]}).to_messages()
    assert not any(isinstance(m, ToolMessage) for m in rendered)
    assert not any(isinstance(m, AIMessage) and m.tool_calls for m in rendered)
    worked = rendered[1].text
    assert worked.startswith(question.inputs["messages"][0]["content"])
    assert "- called calculator with {" in worked
    assert f"- calculator returned: {question.outputs['answer']}" in worked
    assert rendered[2].text == answer
    # running the agent with the demo runs only the live question's own tool call
    _, trace = program.run(question.inputs)
    calls = [c for c in trace.calls if c.inputs["messages"][-1]["type"] == "tool"]
    assert len(calls) <= 1


@pytest.mark.parametrize("kind", ["string", "system_message", "chat_prompt_template"])
def test_agent_prompt_kinds_that_are_optimizable(kind: str) -> None:
    from langchain_core.messages import SystemMessage
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

    text = "You are a helpful assistant."
    prompt: Any = {
        "string": text,
        "system_message": SystemMessage(content=text),
        "chat_prompt_template": ChatPromptTemplate.from_messages(
            [("system", text), MessagesPlaceholder("messages")]
        ),
    }[kind]
    graph = agent(prompt)
    program = LangGraphProgram(graph, output_key="messages")
    name = "agent/prompt" if kind != "chat_prompt_template" else next(iter(program.modules))
    assert list(program.modules) == [name]
    assert program.modules[name].state.instruction == text
    new = "Use the calculator tool for every arithmetic question. Reply with only the answer."
    program.apply(ProgramState({name: ModuleState(new, ())}))
    example = next(e for e in TEST if "times" in e.inputs["messages"][0]["content"])
    _, trace = program.run(example.inputs)
    first = trace.calls[0]
    assert first.module == name and first.outputs["text"].startswith('{"expression"')


def test_a_callable_agent_prompt_is_refused_with_a_message() -> None:
    def prompt(state: Any) -> list[Any]:
        return [("system", "Be helpful."), *state["messages"]]

    with pytest.raises(NoPromptFoundError, match="callable prompt"):
        LangGraphProgram(agent(prompt))
