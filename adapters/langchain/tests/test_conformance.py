"""The core's adapter conformance kit, run against real LangChain chains."""

from __future__ import annotations

from typing import Any

from langchain_core.load import dumpd
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.runnables import RunnableLambda, RunnableParallel, RunnablePassthrough
from lc_test_support import EchoChatModel, EchoLLM

from mipro_core.testing.conformance import AdapterConformanceTests


def build_two_stage_chain() -> Any:
    llm = EchoChatModel()
    rewrite = ChatPromptTemplate.from_messages(
        [("system", "Rewrite the question as a search query."), ("human", "{question}")]
    )
    answer = ChatPromptTemplate.from_messages(
        [("system", "Answer from the context.\n\nContext: {context}"), ("human", "{question}")]
    )
    return (
        RunnablePassthrough.assign(query=rewrite | llm | StrOutputParser())
        | RunnablePassthrough.assign(context=RunnableLambda(lambda d: f"docs: {d['query'][-12:]}"))
        | answer
        | llm
        | StrOutputParser()
    )


class TestTwoStageChain(AdapterConformanceTests):
    def make_object(self) -> Any:
        return build_two_stage_chain()

    def make_inputs(self) -> list[dict[str, Any]]:
        return [{"question": q} for q in ("Who wrote Hamlet?", "Capital of Peru?", "2+2?")]


class TestParallelStringPrompts(AdapterConformanceTests):
    """String prompts, a string LLM and a RunnableParallel: checked on the real templates."""

    def make_object(self) -> Any:
        llm = EchoLLM()
        return RunnableParallel(
            short=PromptTemplate.from_template("Be short.\n\nQ: {question}\nA:") | llm,
            long=PromptTemplate.from_template("Be thorough.\n\nQ: {question}\nA:") | llm,
        )

    def make_inputs(self) -> list[dict[str, Any]]:
        return [{"question": q} for q in ("a?", "b?", "c?")]

    def snapshot(self, obj: Any) -> Any:
        return dumpd(obj)
