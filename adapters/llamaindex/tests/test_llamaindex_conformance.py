"""The core's adapter conformance kit, run against query engines, chat engines and workflows."""

from __future__ import annotations

from typing import Any

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.llms.types import CompletionResponse
from llama_index.core.llms import MockLLM
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.prompts import PromptTemplate
from llama_index.core.query_engine import RouterQueryEngine
from llama_index.core.selectors import LLMSingleSelector
from llama_index.core.tools import QueryEngineTool
from llama_index.core.workflow import Event, StartEvent, StopEvent, Workflow, step
from mipro_llamaindex.testing import HashingEmbedding

from mipro_core.testing.conformance import AdapterConformanceTests

TEXTS = [
    "Paris is the capital of France.",
    "Berlin is the capital of Germany.",
    "The Danube flows through Vienna.",
]
QUESTIONS = [{"query": f"Tell me about {x}?"} for x in ("France", "Germany", "Vienna", "rivers")]


def build_index() -> VectorStoreIndex:
    return VectorStoreIndex.from_documents(
        [Document(text=t, id_=f"d{i}") for i, t in enumerate(TEXTS)],
        embed_model=HashingEmbedding(),
    )


class TestQueryEngineConformance(AdapterConformanceTests):
    def make_object(self) -> Any:
        return build_index().as_query_engine(llm=MockLLM(), response_mode="refine")

    def make_inputs(self) -> list[dict[str, Any]]:
        return QUESTIONS


class RouterLLM(MockLLM):
    """Echoes prompts, but picks choice 1 when asked to select an engine."""

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        if "return the choice that is most relevant" in prompt:
            return CompletionResponse(text='[{"choice": 1, "reason": "first"}]')
        return CompletionResponse(text=prompt)


class TestRouterConformance(AdapterConformanceTests):
    def make_object(self) -> Any:
        index, llm = build_index(), RouterLLM()
        tools = [
            QueryEngineTool.from_defaults(index.as_query_engine(llm=llm), name=n, description=n)
            for n in ("first", "second")
        ]
        return RouterQueryEngine(
            selector=LLMSingleSelector.from_defaults(llm=llm), query_engine_tools=tools, llm=llm
        )

    def make_inputs(self) -> list[dict[str, Any]]:
        return QUESTIONS


class TestChatEngineConformance(AdapterConformanceTests):
    def make_object(self) -> Any:
        # A light memory: the default SQL-backed Memory starts an aiosqlite thread per engine.
        memory = ChatMemoryBuffer.from_defaults()
        return build_index().as_chat_engine(llm=MockLLM(), similarity_top_k=1, memory=memory)

    def make_inputs(self) -> list[dict[str, Any]]:
        return [{"message": q["query"]} for q in QUESTIONS]


class Drafted(Event):
    draft: str


class DraftAndPolish(Workflow):
    polish_prompt = PromptTemplate("Polish this draft: {draft}")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(timeout=30, **kwargs)
        self.llm = MockLLM()
        self.draft_prompt = PromptTemplate("Draft an answer to {question}")

    @step
    async def draft(self, ev: StartEvent) -> Drafted:
        return Drafted(draft=await self.llm.apredict(self.draft_prompt, question=ev.question))

    @step
    async def polish(self, ev: Drafted) -> StopEvent:
        return StopEvent(result=await self.llm.apredict(self.polish_prompt, draft=ev.draft))


class TestWorkflowConformance(AdapterConformanceTests):
    def make_object(self) -> Any:
        return DraftAndPolish()

    def make_inputs(self) -> list[dict[str, Any]]:
        return [{"question": q["query"]} for q in QUESTIONS]
