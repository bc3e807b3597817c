"""End to end: optimize the RAG graph through the simulated model, in process and via ChatOpenAI;
the subgraph, ``Send`` and agent graphs run through ChatOpenAI against the local server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lg_agent import build_agent
from lg_graphs import build_fanout_graph, build_rag_graph, build_subgraph_graph
from mipro_langchain.testing import LMChatModel
from mipro_langgraph import LangGraphProgram

import mipro_core
from mipro_core import Example, ModuleState, ProgramState
from mipro_core.testing import SimulatedLM, load_task, load_tool_task, serve_openai_compatible

TASK = load_task("multihop_qa")


def metric(example: Example, prediction: Any, trace: Any = None) -> bool:
    return bool(TASK.metric(example, prediction["answer"]))


def score(graph: Any, examples: list[Example]) -> float:
    program = LangGraphProgram(graph)
    return sum(metric(e, program.run(e.inputs)[0]) for e in examples) / len(examples)


def optimize(graph: Any) -> Any:
    return mipro_core.optimize(
        LangGraphProgram(graph),
        trainset=TASK.trainset[:30],
        valset=TASK.valset[:24],
        metric=metric,
        max_trials=4,
        num_candidates=3,
        minibatch_size=12,
        seed=0,
        progress=False,
    )


def test_optimizing_the_graph_raises_its_test_score_in_place() -> None:
    assert TASK.search is not None
    graph = build_rag_graph(LMChatModel(lm=SimulatedLM(0)), TASK.search)
    examples = list(TASK.testset[:40])
    before = score(graph, examples)
    result = optimize(graph)
    assert set(result.state) == {"write_query/write_query.steps[0]", "answer/steps[0]"}
    after = score(graph, examples)  # the user's graph object carries the prompts
    assert after >= before + 0.15, (before, after)


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with serve_openai_compatible(SimulatedLM(0)) as running:
        yield running


def test_through_chat_openai_against_the_local_server(server: Any) -> None:
    from langchain_openai import ChatOpenAI

    assert TASK.search is not None
    llm = ChatOpenAI(base_url=server.base_url, api_key="x", model="sim", temperature=0)
    graph = build_rag_graph(llm, TASK.search)
    result = optimize(graph)
    _, trace = LangGraphProgram(graph).run(TASK.testset[0].inputs)
    assert [c.module for c in trace][-1] == "answer/steps[0]"
    assert all(c.usage.get("prompt_tokens", 0) > 0 for c in trace)
    fresh = build_rag_graph(LMChatModel(lm=SimulatedLM(0)), TASK.search)
    mipro_core.apply(fresh, result.state)
    inputs = dict(TASK.testset[0].inputs)
    assert fresh.invoke(inputs)["answer"] == graph.invoke(inputs)["answer"]


def chat_openai(server: Any) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(base_url=server.base_url, api_key="x", model="sim", temperature=0)


def test_subgraph_loop_through_chat_openai(server: Any) -> None:
    assert TASK.search is not None
    graph = build_subgraph_graph(chat_openai(server), TASK.search)
    program = LangGraphProgram(graph, output_key="answer")
    query, answer = "hop/write_query/steps[1]", "answer/steps[0]"
    example = TASK.testset[0]
    _, trace = program.run(example.inputs)
    assert [c.module for c in trace] == [query, query, answer]
    assert trace.unattributed_calls == 0
    program.apply(ProgramState({answer: ModuleState("Reply with only the answer.", ())}))
    _, trace = program.run(example.inputs)
    assert trace.calls[-1].inputs["question"] == example.inputs["question"]


def test_send_fan_out_through_chat_openai(server: Any) -> None:
    program = LangGraphProgram(build_fanout_graph(chat_openai(server)), output_key="summary")
    summary, trace = program.run({"topics": ["rivers", "lamps", "ships"]})
    notes = [c for c in trace if c.module == "note/note_chain.steps[0]"]
    assert sorted(c.inputs["topic"] for c in notes) == ["lamps", "rivers", "ships"]
    assert [c.module for c in trace][-1] == "summarize/summary_prompt"
    assert isinstance(summary, str) and summary


def test_react_agent_calls_tools_through_chat_openai(server: Any) -> None:
    tools_task = load_tool_task()
    graph = build_agent(chat_openai(server), "You are a helpful assistant.")
    program = LangGraphProgram(graph, output_key="messages")
    instruction = (
        "Use the calculator tool for every arithmetic question. Look up every Veltish word "
        "with the dictionary tool. Reply with only the answer."
    )
    program.apply(ProgramState({"agent/prompt": ModuleState(instruction, ())}))
    example = next(e for e in tools_task.testset if "times" in e.inputs["question"])
    answer, trace = program.run({"messages": [("human", example.inputs["question"])]})
    assert [c.module for c in trace] == ["agent/prompt", "agent/prompt"]
    assert trace.calls[1].inputs["messages"][1]["tool_calls"][0]["name"] == "calculator"
    assert answer == example.outputs["answer"]
