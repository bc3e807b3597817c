"""A user's LangChain app, as it would be written without mipro: two-hop retrieval QA.

``query`` is one prompt (one module) used for both hops; ``answer`` is the second module.
The artifact-travel test imports this file in a fresh process to rebuild the chain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

Search = Callable[..., list[str]]


def format_passages(passages: list[str]) -> str:
    return "\n".join(f"[{i}] {p}" for i, p in enumerate(passages, 1))


def build_chain(llm: BaseChatModel, search: Search) -> Runnable[Any, str]:
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

    def retrieve(state: dict[str, Any]) -> dict[str, Any]:
        passages = list(state["passages"])
        for passage in search(state["query"], k=3):
            if passage not in passages:
                passages.append(passage)
        return {**state, "passages": passages, "context": format_passages(passages)}

    def start(inputs: dict[str, Any]) -> dict[str, Any]:
        return {"question": inputs["question"], "passages": [], "context": ""}

    hop = RunnablePassthrough.assign(query=write_query) | RunnableLambda(retrieve)
    return RunnableLambda(start) | hop | hop | answer_prompt | llm | StrOutputParser()


def build_simulated_chain(seed: int = 0) -> Runnable[Any, str]:
    """The chain on mipro's offline simulated model and the ``multihop_qa`` corpus."""
    from mipro_langchain.testing import LMChatModel

    from mipro_core.testing import SimulatedLM, load_task

    task = load_task("multihop_qa")
    assert task.search is not None
    return build_chain(LMChatModel(lm=SimulatedLM(seed)), task.search)
