"""Traces: per-run attribution under threads and asyncio, span disambiguation, bypass calls."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import logging
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RouterQueryEngine, SubQuestionQueryEngine
from llama_index.core.question_gen import LLMQuestionGenerator
from llama_index.core.selectors import LLMSingleSelector
from llama_index.core.tools import QueryEngineTool
from llama_index.core.workflow import StartEvent, StopEvent, Workflow, step
from mipro_llamaindex import LlamaIndexProgram

from mipro_core import ModuleState, ProgramState

QA = "response_synthesizer.text_qa_template"
CITIES = ["France", "Germany", "Spain", "Italy", "Portugal", "Austria"]


def query(i: int) -> str:
    return f"What is the capital of {CITIES[i % len(CITIES)]}? (case {i})"


def test_concurrent_threaded_runs_are_attributed_to_their_own_trace(
    index: VectorStoreIndex,
) -> None:
    program = LlamaIndexProgram(index.as_query_engine(llm=MockLLM(), similarity_top_k=1))
    program.apply(ProgramState({QA: ModuleState("Be brief.")}))
    sequential = [program.run({"query": query(i)}) for i in range(40)]
    with cf.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: program.run({"query": query(i)}), range(40)))
    assert results == sequential
    for i, (prediction, trace) in enumerate(results):
        assert trace.unattributed_calls == 0
        [call] = trace.calls
        assert call.module == QA
        assert call.inputs["query_str"] == query(i)
        assert call.inputs["context_str"] in prediction
        assert call.outputs["answer"] == prediction
        assert prediction.startswith("Be brief.\n\n")


def test_concurrent_aquery_runs_are_attributed(index: VectorStoreIndex) -> None:
    program = LlamaIndexProgram(index.as_query_engine(llm=MockLLM(), similarity_top_k=1))

    async def main() -> list[Any]:
        return await asyncio.gather(*(program.arun({"query": query(i)}) for i in range(12)))

    for i, (prediction, trace) in enumerate(asyncio.run(main())):
        [call] = trace.calls
        assert call.inputs["query_str"] == query(i)
        assert query(i) in prediction


def route_by_topic(prompt: str) -> str:
    """Selector: engine 2 for questions about rivers, else engine 1; other prompts echoed."""
    if "return the choice that is most relevant" in prompt:
        question = prompt.rsplit("question: ", 1)[-1]
        return '[{"choice": %d, "reason": "topic"}]' % (2 if "river" in question else 1)  # noqa: UP031
    return prompt


def test_router_sub_engines_with_identical_prompts_are_told_apart_by_span(
    index: VectorStoreIndex, scripted: Any
) -> None:
    llm = scripted(route_by_topic)
    engines = [index.as_query_engine(llm=llm) for _ in range(2)]
    router = RouterQueryEngine(
        selector=LLMSingleSelector.from_defaults(llm=llm),
        query_engine_tools=[
            QueryEngineTool.from_defaults(engines[0], name="capitals", description="Capitals"),
            QueryEngineTool.from_defaults(engines[1], name="rivers", description="Rivers"),
        ],
        llm=llm,
    )
    program = LlamaIndexProgram(router)
    first, second = (f"query_engines[{i}].{QA}" for i in range(2))
    # Both sub-engines hold the very same default QA template object.
    assert program.modules[first].template is program.modules[second].template
    inputs = [{"query": "Which river flows through Paris?"}, {"query": "Capital of Spain?"}]
    with cf.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(program.run, inputs * 4))
    for (_, trace), expected in zip(results, [second, first] * 4, strict=True):
        assert [c.module for c in trace.calls] == ["selector.prompt", expected]
        assert trace.unattributed_calls == 0


def test_sub_question_engine_run_attributes_every_call(
    index: VectorStoreIndex, scripted: Any
) -> None:
    llm = scripted()
    tools = [
        QueryEngineTool.from_defaults(index.as_query_engine(llm=llm), name=n, description=n)
        for n in ("capitals", "rivers")
    ]
    engine = SubQuestionQueryEngine.from_defaults(
        query_engine_tools=tools,
        llm=llm,
        question_gen=LLMQuestionGenerator.from_defaults(llm=llm),
        use_async=True,
        verbose=False,
    )
    _, trace = LlamaIndexProgram(engine).run({"query": "Which river flows through Paris?"})
    assert sorted(c.module for c in trace.calls) == sorted(
        [
            "question_gen.question_gen_prompt",
            f"query_engines[capitals].{QA}",
            f"query_engines[rivers].{QA}",
            QA,
        ]
    )
    assert trace.unattributed_calls == 0


class Bypass(Workflow):
    def __init__(self, llm: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.llm = llm
        from llama_index.core.prompts import PromptTemplate

        self.prompt = PromptTemplate("Summarise {text}.")

    @step
    async def go(self, ev: StartEvent) -> StopEvent:
        summary = await self.llm.apredict(self.prompt, text=ev.text)
        raw = await self.llm.acomplete(f"Translate: {summary}")  # no template
        return StopEvent(result=raw.text)


def test_calls_that_bypass_templates_are_counted_and_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    program = LlamaIndexProgram(Bypass(MockLLM(), timeout=10))
    with caplog.at_level(logging.WARNING, logger="mipro_llamaindex"):
        _, trace = program.run({"text": "a"})
        program.run({"text": "b"})
    assert [c.module for c in trace.calls] == ["prompt"]
    assert trace.unattributed_calls == 1
    assert trace.lm_calls == 2
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1  # once per program, not once per run
    assert "bypassed prompt templates" in warnings[0] and "Bypass" in warnings[0]


def test_unoptimized_prompt_reaching_the_llm_is_reported(
    index: VectorStoreIndex, caplog: pytest.LogCaptureFixture
) -> None:
    engine = index.as_query_engine(llm=MockLLM(), response_mode="refine", similarity_top_k=2)
    program = LlamaIndexProgram(engine, exclude=["response_synthesizer.refine_template"])
    with caplog.at_level(logging.WARNING, logger="mipro_llamaindex"):
        _, trace = program.run({"query": "What is the capital of France?"})
    assert [c.module for c in trace.calls] == [QA]
    assert trace.unattributed_calls == 1
    assert "include=['response_synthesizer.refine_template']" in caplog.text


def test_streaming_engine_runs_but_its_calls_are_reported_unrecorded(
    index: VectorStoreIndex, caplog: pytest.LogCaptureFixture
) -> None:
    engine = index.as_query_engine(llm=MockLLM(), streaming=True, similarity_top_k=1)
    with caplog.at_level(logging.WARNING, logger="mipro_llamaindex"):
        text, trace = LlamaIndexProgram(engine).run({"query": "What is the capital of France?"})
    assert "Paris" in text  # the streamed response is collected into the prediction
    assert trace.calls == () and trace.unattributed_calls == 1
    assert "disable streaming" in caplog.text
