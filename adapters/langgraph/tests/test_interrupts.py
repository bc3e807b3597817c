"""Human-in-the-loop graphs: a run that stops at an interrupt never reaches the prompts after
it, so optimizing it must stop with a clear error, not search on truncated runs."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from lg_graphs import EchoChatModel
from mipro_langgraph import LangGraphProgram

import mipro_core
from mipro_core import Example, InvalidInputError, ModuleState, ProgramState
from mipro_core.testing import SimulatedLM


class State(TypedDict, total=False):
    question: str
    draft: str
    answer: str


def _prompt(text: str, human: str) -> ChatPromptTemplate:
    return ChatPromptTemplate.from_messages([("system", text), ("human", human)])


class CountingEcho(EchoChatModel):
    calls: int = 0

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        self.calls += 1
        return super()._generate(messages, stop, run_manager, **kw)


def _builder(approve: Any = None, llm: Any = None) -> StateGraph:
    llm = llm or EchoChatModel()
    builder = StateGraph(State)
    draft = _prompt("Draft an answer.", "{question}") | llm | StrOutputParser()
    answer = _prompt("Polish the draft.", "{draft}") | llm | StrOutputParser()
    builder.add_node("draft", draft | (lambda d: {"draft": d}))
    builder.add_node("answer", answer | (lambda a: {"answer": a}))
    builder.add_edge(START, "draft")
    if approve is None:
        builder.add_edge("draft", "answer")
    else:
        builder.add_node("approve", approve)
        builder.add_edge("draft", "approve")
        builder.add_edge("approve", "answer")
    builder.add_edge("answer", END)
    return builder


DATA = [Example({"question": f"q{i}?"}, {"answer": "a"}) for i in range(6)]


def _optimize(graph: Any) -> mipro_core.OptimizationResult:
    return mipro_core.optimize(
        graph,
        DATA,
        lambda ex, pred, trace=None: 0.0,
        proposer_lm=SimulatedLM(seed=0),
        max_trials=2,
        progress=False,
    )


def test_a_graph_compiled_with_interrupt_before_is_refused_before_any_call() -> None:
    llm = CountingEcho()
    graph = _builder(llm=llm).compile(checkpointer=InMemorySaver(), interrupt_before=["answer"])
    with pytest.raises(InvalidInputError) as caught:
        _optimize(graph)
    message = str(caught.value)
    assert "interrupt_before=['answer']" in message
    assert 'graph.copy(update={"interrupt_before_nodes": []' in message
    assert llm.calls == 0


def test_the_suggested_copy_optimizes_the_user_s_graph_and_apply_works_on_it() -> None:
    graph = _builder().compile(checkpointer=InMemorySaver(), interrupt_after=["draft"])
    program = LangGraphProgram(graph)  # adapting (and so apply) is fine: only runs stop
    new = ProgramState({"answer/steps[0]": ModuleState("Be brief.")})
    program.apply(new)
    assert program.modules["answer/steps[0]"].state.instruction == "Be brief."
    program.restore()
    copy = graph.copy(update={"interrupt_before_nodes": [], "interrupt_after_nodes": []})
    _, trace = LangGraphProgram(copy).run({"question": "q?"})
    assert [c.module for c in trace.calls] == ["draft/steps[0]", "answer/steps[0]"]


def test_a_run_stopping_at_a_dynamic_interrupt_is_a_clear_error() -> None:
    def approve(state: State) -> dict[str, Any]:
        interrupt({"draft": state["draft"]})
        return {}

    graph = _builder(approve).compile(checkpointer=InMemorySaver())
    with pytest.raises(InvalidInputError, match=r"interrupt\(\).*'approve'"):
        LangGraphProgram(graph).run({"question": "q?"})
    with pytest.raises(InvalidInputError, match="interrupt"):
        _optimize(graph)


def test_a_subgraph_compiled_with_interrupts_is_refused_naming_it() -> None:
    """A static interrupt in a subgraph ends the parent's run silently (no ``__interrupt__``
    in the output): it must be refused like the top graph's."""
    sub = _builder().compile(interrupt_before=["answer"])
    parent = StateGraph(State)
    parent.add_node("inner", sub)
    parent.add_edge(START, "inner")
    parent.add_edge("inner", END)
    graph = parent.compile(checkpointer=InMemorySaver())
    with pytest.raises(InvalidInputError, match=r"subgraph 'inner'.*interrupt_before=\['answer'\]"):
        LangGraphProgram(graph).run({"question": "q?"})
