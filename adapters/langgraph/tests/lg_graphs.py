"""Users' LangGraph apps, as they would be written without mipro (test support)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

Search = Callable[..., list[str]]


def format_passages(passages: list[str]) -> str:
    return "\n".join(f"[{i}] {p}" for i, p in enumerate(passages, 1))


class RagState(TypedDict, total=False):
    question: str
    query: str
    passages: list[str]
    context: str
    hops: int
    answer: str


def build_rag_graph(llm: BaseChatModel, search: Search, checkpointer: Any = None) -> Any:
    """write_query -> retrieve -> (another hop | answer): a conditional edge and a loop."""
    query_prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Write a search query that will help answer the question."),
            ("human", "Context:\n{context}\n\nQuestion: {question}"),
        ]
    )
    answer_prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer the question."),
            ("human", "Context:\n{context}\n\nQuestion: {question}"),
        ]
    )
    write_query = query_prompt | llm | StrOutputParser()

    def query_node(state: RagState) -> dict[str, Any]:
        context = state.get("context", "")
        return {"query": write_query.invoke({"context": context, "question": state["question"]})}

    def retrieve(state: RagState) -> dict[str, Any]:
        passages = list(state.get("passages", []))
        passages += [p for p in search(state["query"], k=3) if p not in passages]
        hops = state.get("hops", 0) + 1
        return {"passages": passages, "context": format_passages(passages), "hops": hops}

    def route(state: RagState) -> str:
        return "write_query" if state["hops"] < 2 else "answer"

    builder = StateGraph(RagState)
    builder.add_node("write_query", query_node)
    builder.add_node("retrieve", retrieve)
    builder.add_node("answer", answer_prompt | llm | StrOutputParser() | (lambda a: {"answer": a}))
    builder.add_edge(START, "write_query")
    builder.add_edge("write_query", "retrieve")
    builder.add_conditional_edges("retrieve", route, ["write_query", "answer"])
    builder.add_edge("answer", END)
    return builder.compile(checkpointer=checkpointer)


def query_chain(prompt: ChatPromptTemplate, llm: BaseChatModel) -> Any:
    first_hop = RunnableLambda(
        lambda s: {"context": s.get("context", ""), "question": s["question"]}
    )
    return first_hop | prompt | llm | StrOutputParser() | (lambda q: {"query": q})


def build_subgraph_graph(llm: BaseChatModel, search: Search) -> Any:
    """A ``hop`` subgraph (write_query -> retrieve) looped twice by the parent, then answer."""
    query_prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Write a search query that will help answer the question."),
            ("human", "Context:\n{context}\n\nQuestion: {question}"),
        ]
    )
    answer_prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer the question."),
            ("human", "Context:\n{context}\n\nQuestion: {question}"),
        ]
    )

    def retrieve(state: RagState) -> dict[str, Any]:
        passages = list(state.get("passages", []))
        passages += [p for p in search(state["query"], k=3) if p not in passages]
        return {"passages": passages, "context": format_passages(passages)}

    hop = StateGraph(RagState)
    hop.add_node("write_query", query_chain(query_prompt, llm))
    hop.add_node("retrieve", retrieve)
    hop.add_edge(START, "write_query")
    hop.add_edge("write_query", "retrieve")
    hop_graph = hop.compile()

    def count(state: RagState) -> dict[str, Any]:
        return {"hops": state.get("hops", 0) + 1}

    builder = StateGraph(RagState)
    builder.add_node("hop", hop_graph)
    builder.add_node("count", count)
    builder.add_node("answer", answer_prompt | llm | StrOutputParser() | (lambda a: {"answer": a}))
    builder.add_edge(START, "hop")
    builder.add_edge("hop", "count")
    builder.add_conditional_edges("count", lambda s: "hop" if s["hops"] < 2 else "answer")
    builder.add_edge("answer", END)
    return builder.compile()


class FanState(TypedDict, total=False):
    topics: list[str]
    notes: Annotated[list[str], operator.add]
    summary: str


class TopicState(TypedDict):
    topic: str


def build_fanout_graph(llm: BaseChatModel) -> Any:
    """``Send`` one ``note`` branch per topic, in parallel, then ``summarize`` the notes."""
    note_prompt = ChatPromptTemplate.from_messages(
        [("system", "Write one short note."), ("human", "Topic: {topic}")]
    )
    summary_prompt = ChatPromptTemplate.from_messages(
        [("system", "Summarize the notes."), ("human", "{notes}")]
    )
    note_chain = note_prompt | llm | StrOutputParser()

    def note(state: TopicState) -> dict[str, Any]:
        return {"notes": [note_chain.invoke({"topic": state["topic"]})]}

    def summarize(state: FanState) -> dict[str, Any]:
        notes = "\n".join(sorted(state["notes"]))
        return {"summary": (summary_prompt | llm | StrOutputParser()).invoke({"notes": notes})}

    def fan_out(state: FanState) -> list[Send]:
        return [Send("note", {"topic": t}) for t in state["topics"]]

    builder = StateGraph(FanState)
    builder.add_node("note", note)
    builder.add_node("summarize", summarize)
    builder.add_conditional_edges(START, fan_out, ["note"])
    builder.add_edge("note", "summarize")
    builder.add_edge("summarize", END)
    return builder.compile()


class EchoChatModel(BaseChatModel):
    """Answers with the whole prompt it saw (``type: content`` lines): prompt edits show."""

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "\n".join(f"{m.type}: {m.content}" for m in messages)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])
