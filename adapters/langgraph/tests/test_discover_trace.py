"""Discovery, traces, in-place rewriting and state handling on real LangGraph graphs (fakes)."""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from lg_graphs import EchoChatModel, build_fanout_graph, build_rag_graph, build_subgraph_graph
from mipro_langchain import NoPromptFoundError, TraceRecorder
from mipro_langgraph import LangGraphProgram
from pydantic import BaseModel

import mipro_core
from mipro_core import ModuleState, ProgramState


def search(query: str, k: int = 3) -> list[str]:
    return [f"doc about {query.splitlines()[-1][-12:]}"]


RAG_MODULES = ["write_query/write_query.steps[0]", "answer/steps[0]"]


def test_rag_graph_modules_follow_the_graph_and_the_loop_is_one_call_per_visit() -> None:
    program = LangGraphProgram(build_rag_graph(EchoChatModel(), search))
    assert list(program.modules) == RAG_MODULES
    state, trace = program.run({"question": "Who?"})
    assert [c.module for c in trace] == [RAG_MODULES[0], RAG_MODULES[0], RAG_MODULES[1]]
    assert trace.calls[0].inputs == {"context": "", "question": "Who?"}
    assert trace.calls[1].inputs["context"].startswith("[1] doc about")
    assert trace.unattributed_calls == 0
    assert state["hops"] == 2 and "Answer the question." in state["answer"]


def test_subgraph_modules_are_prefixed_by_the_parent_node() -> None:
    program = LangGraphProgram(build_subgraph_graph(EchoChatModel(), search))
    assert list(program.modules) == ["hop/write_query/steps[1]", "answer/steps[0]"]
    _, trace = program.run({"question": "Who?"})
    assert [c.module for c in trace] == [
        "hop/write_query/steps[1]",
        "hop/write_query/steps[1]",
        "answer/steps[0]",
    ]


def test_send_fan_out_attributes_every_parallel_branch() -> None:
    program = LangGraphProgram(build_fanout_graph(EchoChatModel()))
    assert list(program.modules) == ["note/note_chain.steps[0]", "summarize/summary_prompt"]
    _, trace = program.run({"topics": ["a", "b", "c"]})
    notes = [c for c in trace if c.module == "note/note_chain.steps[0]"]
    assert sorted(c.inputs["topic"] for c in notes) == ["a", "b", "c"]
    assert all(c.outputs["text"].endswith(f"Topic: {c.inputs['topic']}") for c in notes)
    assert [c.module for c in trace][-1] == "summarize/summary_prompt"


SHARED = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{question}")])


class Helper:
    def __init__(self, llm: Any) -> None:
        self.prompt = ChatPromptTemplate.from_messages([("system", "Check."), ("human", "{q}")])
        self.llm = llm

    def check(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"checked": (self.prompt | self.llm).invoke({"q": state["question"]}).content}


class QState(TypedDict, total=False):
    question: str
    first: str
    second: str
    checked: str


def build_shared_graph(llm: Any) -> Any:
    def first(state: QState) -> dict[str, Any]:
        return {"first": (SHARED | llm | StrOutputParser()).invoke(state)}  # a module global

    def make_second() -> Any:
        chain = SHARED | llm | StrOutputParser()  # the same prompt, through a closure

        def second(state: QState) -> dict[str, Any]:
            return {"second": chain.invoke({"question": state["question"]})}

        return second

    builder = StateGraph(QState)
    builder.add_node("first", first)
    builder.add_node("second", make_second())
    builder.add_node("check", Helper(llm).check)  # a bound method's attributes
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", "check")
    return builder.compile()


def test_a_prompt_shared_by_two_nodes_is_one_module_and_methods_are_walked() -> None:
    program = LangGraphProgram(build_shared_graph(EchoChatModel()))
    assert list(program.modules) == ["first/SHARED", "check/prompt"]
    _, trace = program.run({"question": "Q?"})
    assert [c.module for c in trace] == ["first/SHARED", "first/SHARED", "check/prompt"]


def test_apply_rewrites_the_prompts_the_graph_uses_and_a_fresh_graph_takes_the_artifact(
    tmp_path: Any,
) -> None:
    graph = build_rag_graph(EchoChatModel(), search)
    state = ProgramState(
        {
            RAG_MODULES[1]: ModuleState("Reply in one word {not a variable}.", ()),
            RAG_MODULES[0]: ModuleState("Name the entity.", ()),
        }
    )
    LangGraphProgram(graph).apply(state)
    out = graph.invoke({"question": "Who?"})  # the user's own graph, not rebuilt
    assert out["answer"].startswith("system: Reply in one word {not a variable}.")
    path = tmp_path / "rag.mipro.json"
    mipro_core.save_state(path, state)
    fresh = build_rag_graph(EchoChatModel(), search)
    mipro_core.apply(fresh, path)
    assert fresh.invoke({"question": "Who?"})["answer"] == out["answer"]


def test_a_failing_apply_puts_back_what_it_had_changed() -> None:
    graph = build_rag_graph(EchoChatModel(), search)
    program = LangGraphProgram(graph)
    before = graph.invoke({"question": "Who?"})["answer"]
    bad = ModuleState("fine", ({"no": "demo"},))  # type: ignore[arg-type]
    with pytest.raises(Exception):  # noqa: B017 - the rewriter's own error
        program.apply(
            ProgramState({RAG_MODULES[1]: ModuleState("Changed.", ()), RAG_MODULES[0]: bad})
        )
    assert graph.invoke({"question": "Who?"})["answer"] == before


def test_a_checkpointer_gets_a_thread_per_run_so_no_state_leaks() -> None:
    program = LangGraphProgram(build_rag_graph(EchoChatModel(), search, InMemorySaver()))
    first, _ = program.run({"question": "Who?"})
    second, trace = program.run({"question": "Who?"})
    assert first == second and len(trace) == 3


class PState(BaseModel):
    question: str
    answer: str = ""


def test_pydantic_state_input_and_output_key() -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "Answer."), ("human", "{question}")])
    chain = prompt | EchoChatModel() | StrOutputParser()

    def answer(state: PState) -> dict[str, Any]:
        return {"answer": chain.invoke({"question": state.question})}

    builder = StateGraph(PState)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    program = LangGraphProgram(builder.compile(), output_key="answer")
    prediction, trace = program.run({"question": "Q?"})
    assert prediction == "system: Answer.\nhuman: Q?"
    assert [c.module for c in trace] == ["answer/chain.steps[0]"]
    with pytest.raises(mipro_core.InvalidInputError, match="output_key 'nope'"):
        LangGraphProgram(builder.compile(), output_key="nope").run({"question": "Q?"})


def build_async_graph(llm: Any) -> Any:
    prompt = ChatPromptTemplate.from_messages([("system", "Answer."), ("human", "{question}")])
    chain = prompt | llm | StrOutputParser()

    async def answer(state: QState) -> dict[str, Any]:
        return {"first": await chain.ainvoke({"question": state["question"]})}

    builder = StateGraph(QState)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    return builder.compile()


def test_async_graphs_run_through_ainvoke_and_astream_is_traced() -> None:
    graph = build_async_graph(EchoChatModel())
    program = LangGraphProgram(graph)
    assert program.use_async
    _, trace = program.run({"question": "Q?"})
    assert [c.module for c in trace] == ["answer/chain.steps[0]"]

    async def stream() -> TraceRecorder:
        recorder = TraceRecorder(program._infos)
        async for _ in graph.astream({"question": "R?"}, {"callbacks": [recorder]}):
            pass
        return recorder

    calls = asyncio.run(stream()).trace().calls
    assert [(c.module, c.inputs["question"]) for c in calls] == [("answer/chain.steps[0]", "R?")]


def test_a_graph_without_prompts_is_refused_with_a_clear_message() -> None:
    builder = StateGraph(QState)
    builder.add_node("noop", lambda s: {"first": "x"})
    builder.add_edge(START, "noop")
    with pytest.raises(NoPromptFoundError, match="no prompt template found in this"):
        mipro_core.adapt(builder.compile())


def test_graph_prompts_never_say_their_reply_is_the_graph_output() -> None:
    # a node's function stands between a prompt's reply and the graph's state: the data's gold
    # field is named with outputs=, never taken as a reply automatically
    program = LangGraphProgram(build_rag_graph(EchoChatModel(), search))
    assert [m.output_is_raw_text for m in program.modules.values()] == [False, False]
    # the LangChain view: write_query's chain ends at StrOutputParser (its reply as it is), the
    # answer node's chain reshapes it with a lambda after the parser
    inner = {name: m.inner.output_is_raw_text for name, m in program.modules.items()}
    assert inner == {"write_query/write_query.steps[0]": True, "answer/steps[0]": False}
