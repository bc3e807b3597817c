"""Evaluation runs never write to the user's checkpointer."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from lg_graphs import EchoChatModel, RagState, build_rag_graph
from mipro_langgraph import LangGraphProgram
from mipro_langgraph._program import evaluation_graph

import mipro_core
from mipro_core import Example


def search(query: str, k: int = 3) -> list[str]:
    return ["a passage"]


def test_evaluation_runs_leave_the_users_checkpointer_untouched() -> None:
    saver = InMemorySaver()
    graph = build_rag_graph(EchoChatModel(), search, saver)
    user: RunnableConfig = {"configurable": {"thread_id": "prod-user-1"}}
    graph.invoke({"question": "Mine?"}, user)
    before = dict(saver.storage)
    program = LangGraphProgram(graph, config=user)
    first, _ = program.run({"question": "Who?"})
    second, trace = program.run({"question": "Who?"})
    assert first == second and len(trace) == 3  # no state leaked from run to run
    assert list(saver.storage) == ["prod-user-1"] and saver.storage == before
    assert graph.checkpointer is saver  # the user's graph is not changed
    assert not program._saver.storage  # and the private saver keeps no finished run
    asynchronous = LangGraphProgram(graph, config=user, use_async=True)
    assert asynchronous.run({"question": "Who?"})[0] == first
    assert saver.storage == before and not asynchronous._saver.storage


def test_optimize_adds_no_thread_to_the_users_checkpointer() -> None:
    saver = InMemorySaver()
    graph = build_rag_graph(EchoChatModel(), search, saver)
    trainset = [Example({"question": f"Q{i}?"}, {"answer": "x"}) for i in range(6)]
    mipro_core.optimize(
        graph, trainset=trainset, metric=lambda ex, pred: 0.0, max_trials=2, progress=False
    )
    assert not saver.storage and not saver.writes


class _NoDelete(InMemorySaver):
    def delete_thread(self, thread_id: str) -> None:
        raise NotImplementedError


def test_a_graph_that_cannot_be_copied_uses_the_users_saver_and_deletes_each_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    saver = InMemorySaver()
    graph = build_rag_graph(EchoChatModel(), search, saver)

    def refuse(update: Any = None) -> Any:
        raise TypeError("no copy")

    graph.copy = refuse  # type: ignore[method-assign]
    program = LangGraphProgram(graph)
    assert evaluation_graph(graph) == (graph, saver)
    program.run({"question": "Who?"})
    assert not saver.storage
    stubborn = _NoDelete()
    graph.checkpointer = stubborn
    program = LangGraphProgram(graph)
    program.run({"question": "Who?"})
    assert len(stubborn.storage) == 1 and "left in _NoDelete" in caplog.text


def test_a_subgraph_with_its_own_saver_is_not_written_to_either() -> None:
    sub_saver, top_saver = InMemorySaver(), InMemorySaver()
    subgraph = build_rag_graph(EchoChatModel(), search, sub_saver)
    builder = StateGraph(RagState)
    builder.add_node("inner", subgraph)
    builder.add_edge(START, "inner")
    program = LangGraphProgram(builder.compile(checkpointer=top_saver))
    _, trace = program.run({"question": "Who?"})
    assert len(trace) == 3 and not sub_saver.storage and not top_saver.storage
