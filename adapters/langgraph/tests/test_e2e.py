"""End to end: optimize the RAG graph through the simulated model, in process and via ChatOpenAI."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lg_graphs import build_rag_graph
from mipro_langchain.testing import LMChatModel
from mipro_langgraph import LangGraphProgram

import mipro_core
from mipro_core import Example
from mipro_core.testing import SimulatedLM, load_task, serve_openai_compatible

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
