"""The core's adapter conformance kit, run against real LangGraph graphs."""

from __future__ import annotations

from typing import Any

from lg_agent import ScriptedToolModel, build_agent
from lg_graphs import EchoChatModel, build_rag_graph

from mipro_core.testing.conformance import AdapterConformanceTests


def search(query: str, k: int = 3) -> list[str]:
    return [f"doc about {query.splitlines()[-1][-12:]}"]


class TestRagGraph(AdapterConformanceTests):
    def make_object(self) -> Any:
        return build_rag_graph(EchoChatModel(), search)

    def make_inputs(self) -> list[dict[str, Any]]:
        return [{"question": q} for q in ("Who wrote Hamlet?", "Capital of Peru?", "2+2?")]

    def snapshot(self, obj: Any) -> Any:
        return obj.invoke({"question": "Q?"})


class TestReactAgent(AdapterConformanceTests):
    def make_object(self) -> Any:
        return build_agent(ScriptedToolModel(), "Use the calculator for arithmetic.")

    def make_inputs(self) -> list[dict[str, Any]]:
        return [{"messages": [("human", f"What is {i}+{i * 2}?")]} for i in range(4)]
