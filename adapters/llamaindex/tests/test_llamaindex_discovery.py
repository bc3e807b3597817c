"""Discovery: PromptMixin tree + attribute scan, names, which prompts are offered."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.chat_engine import CondensePlusContextChatEngine
from llama_index.core.indices.query.query_transform import HyDEQueryTransform
from llama_index.core.llms import MockLLM
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.prompts import PromptTemplate
from llama_index.core.query_engine import (
    RouterQueryEngine,
    SubQuestionQueryEngine,
    TransformQueryEngine,
)
from llama_index.core.question_gen import LLMQuestionGenerator
from llama_index.core.selectors import LLMMultiSelector, LLMSingleSelector
from llama_index.core.tools import QueryEngineTool
from llama_index.core.workflow import StartEvent, StopEvent, Workflow, step
from mipro_llamaindex import LlamaIndexProgram

from mipro_core import InvalidInputError, ModuleState, ProgramState, current_state

QA = "response_synthesizer.text_qa_template"


def tools(index: VectorStoreIndex, llm: Any) -> list[QueryEngineTool]:
    return [
        QueryEngineTool.from_defaults(
            index.as_query_engine(llm=llm), name="capitals", description="Capital cities"
        ),
        QueryEngineTool.from_defaults(
            index.as_query_engine(llm=llm, response_mode="tree_summarize"),
            name="rivers",
            description="Rivers",
        ),
    ]


@pytest.mark.parametrize(
    ("mode", "offered"),
    [
        ("compact", [QA]),
        ("refine", [QA, "response_synthesizer.refine_template"]),
        ("tree_summarize", ["response_synthesizer.summary_template"]),
        ("simple_summarize", [QA]),
        ("accumulate", [QA]),
        ("compact_accumulate", [QA]),
    ],
)
def test_synthesizer_modes_offer_only_prompts_that_run(
    index: VectorStoreIndex, mode: str, offered: list[str]
) -> None:
    program = LlamaIndexProgram(index.as_query_engine(llm=MockLLM(), response_mode=mode))
    assert list(program.modules) == offered
    assert program.kind == "query engine"
    assert program.input_fields == ("query",)
    if mode == "compact":
        assert "overflows" in program.skipped["response_synthesizer.refine_template"]
    for name in program.skipped:
        assert name not in program.modules


def test_router_hidden_sub_engine_prompts_are_found(index: VectorStoreIndex) -> None:
    llm = MockLLM()
    router = RouterQueryEngine(
        selector=LLMSingleSelector.from_defaults(llm=llm),
        query_engine_tools=tools(index, llm),
        llm=llm,
    )
    assert not any(k.startswith("query_engines") for k in router.get_prompts())  # hidden
    program = LlamaIndexProgram(router)
    assert list(program.modules) == [
        "selector.prompt",
        "query_engines[0].response_synthesizer.text_qa_template",
        "query_engines[1].response_synthesizer.summary_template",
    ]
    assert "summarizer.summary_template" in program.skipped  # single selector: never runs
    # Rewriting a hidden prompt reaches the sub-engine itself, and only that one.
    program.apply(
        ProgramState({"query_engines[0].response_synthesizer.text_qa_template": ModuleState("X")})
    )
    first = router._query_engines[0].get_prompts()["response_synthesizer:text_qa_template"]
    assert first.get_template().startswith("X\n\n")
    rivers = router._query_engines[1].get_prompts()
    assert not rivers["response_synthesizer:summary_template"].get_template().startswith("X")


def test_router_with_multi_selector_offers_summarizer(index: VectorStoreIndex) -> None:
    llm = MockLLM()
    router = RouterQueryEngine(
        selector=LLMMultiSelector.from_defaults(llm=llm),
        query_engine_tools=tools(index, llm),
        llm=llm,
    )
    assert "summarizer.summary_template" in LlamaIndexProgram(router).modules


def test_sub_question_engine_finds_tool_engines(index: VectorStoreIndex) -> None:
    llm = MockLLM()
    engine = SubQuestionQueryEngine.from_defaults(
        query_engine_tools=tools(index, llm),
        llm=llm,
        question_gen=LLMQuestionGenerator.from_defaults(llm=llm),
    )
    assert list(LlamaIndexProgram(engine).modules) == [
        "question_gen.question_gen_prompt",
        QA,
        "query_engines[capitals].response_synthesizer.text_qa_template",
        "query_engines[rivers].response_synthesizer.summary_template",
    ]


def test_chat_engine_private_templates(index: VectorStoreIndex) -> None:
    engine = index.as_chat_engine(llm=MockLLM(), memory=ChatMemoryBuffer.from_defaults())
    assert isinstance(engine, CondensePlusContextChatEngine)
    program = LlamaIndexProgram(engine)
    assert program.kind == "chat engine"
    assert program.input_fields == ("message",)
    assert list(program.modules) == ["context_prompt_template"]
    assert set(program.skipped) == {"context_refine_prompt_template", "condense_prompt_template"}
    signature = program.modules["context_prompt_template"].signature
    assert signature.inputs == ("context_str", "query_str")
    assert signature.outputs == ("answer",)


def test_depth_three_prompts_are_rewritten_on_the_leaf_owner(index: VectorStoreIndex) -> None:
    inner = index.as_query_engine(llm=MockLLM())
    outer = TransformQueryEngine(inner, HyDEQueryTransform(llm=MockLLM()))
    key = "query_engine:response_synthesizer:text_qa_template"
    with pytest.raises(ValueError, match="too many values"):  # LlamaIndex's own key form breaks
        outer.update_prompts({key: PromptTemplate("x {context_str} {query_str}")})
    program = LlamaIndexProgram(outer)
    name = "query_engine.response_synthesizer.text_qa_template"
    assert list(program.modules) == ["query_transform.hyde_prompt", name]
    program.apply(ProgramState({name: ModuleState("Deep.")}))
    assert (
        inner.get_prompts()["response_synthesizer:text_qa_template"]
        .get_template()
        .startswith("Deep.\n\n")
    )


class Pipeline(Workflow):
    """A workflow holding one prompt on the class and one on the instance."""

    review_prompt = PromptTemplate("Review: {text}")

    def __init__(self, llm: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.llm = llm
        self.draft_prompt = PromptTemplate("Draft about {topic}.")

    @step
    async def go(self, ev: StartEvent) -> StopEvent:
        draft = await self.llm.apredict(self.draft_prompt, topic=ev.topic)
        return StopEvent(result=await self.llm.apredict(self.review_prompt, text=draft))


def test_workflow_attributes_are_found_and_class_prompt_restored() -> None:
    workflow = Pipeline(MockLLM(), timeout=10)
    program = LlamaIndexProgram(workflow)
    assert program.kind == "workflow"
    assert program.input_fields is None
    assert list(program.modules) == ["draft_prompt", "review_prompt"]
    original = current_state(program)
    program.apply(ProgramState({"review_prompt": ModuleState("Be kind.")}))
    assert workflow.review_prompt.template == "Be kind.\n\nReview: {text}"
    assert Pipeline.review_prompt.template == "Review: {text}"  # the class is untouched
    program.apply(original)
    assert "review_prompt" not in vars(workflow)  # exactly as built: the class attribute again


def test_include_exclude_and_errors(index: VectorStoreIndex) -> None:
    engine = index.as_query_engine(llm=MockLLM())
    refine = "response_synthesizer.refine_template"
    assert list(LlamaIndexProgram(engine, include=[refine]).modules) == [QA, refine]
    with pytest.raises(InvalidInputError, match="no prompt template that reaches the LLM"):
        LlamaIndexProgram(engine, exclude=[QA])
    with pytest.raises(InvalidInputError, match="unknown prompt"):
        LlamaIndexProgram(engine, include=["nope"])
    with pytest.raises(InvalidInputError, match="not rewritten"):
        LlamaIndexProgram(engine, include=["response_synthesizer.chat_content_qa_template"])
    with pytest.raises(InvalidInputError, match="accepts query engines"):
        LlamaIndexProgram(index)


def test_names_are_stable_across_rebuilds(index: VectorStoreIndex) -> None:
    def build() -> list[str]:
        llm = MockLLM()
        engine = SubQuestionQueryEngine.from_defaults(
            query_engine_tools=tools(index, llm),
            llm=llm,
            question_gen=LLMQuestionGenerator.from_defaults(llm=llm),
        )
        program = LlamaIndexProgram(engine)
        return [*program.modules, *program.skipped]

    assert build() == build()


def test_describe_shows_templates_and_skipped(index: VectorStoreIndex) -> None:
    text = LlamaIndexProgram(index.as_query_engine(llm=MockLLM())).describe()
    assert "query engine" in text and '{"query": question}' in text
    assert f"- {QA} (in RetrieverQueryEngine > CompactAndRefine)" in text
    assert "(context_str, query_str) -> (answer)" in text
    assert "Context information is below." in text
    assert "Prompts not optimized:" in text


@pytest.mark.parametrize(
    ("mode", "offered", "skipped"),
    [
        ("context", ["context_template"], ["context_refine_template"]),
        (
            "condense_question",
            [f"query_engine.{QA}"],
            ["condense_question_prompt", "query_engine.response_synthesizer.refine_template"],
        ),
    ],
)
def test_other_chat_engines(
    index: VectorStoreIndex, mode: str, offered: list[str], skipped: list[str]
) -> None:
    engine = index.as_chat_engine(
        llm=MockLLM(), chat_mode=mode, memory=ChatMemoryBuffer.from_defaults()
    )
    program = LlamaIndexProgram(engine)
    assert list(program.modules) == offered
    assert set(skipped) <= set(program.skipped)
    _, trace = program.run({"message": "What is the capital of France?"})
    assert [c.module for c in trace.calls] == offered
    assert trace.unattributed_calls == 0


@pytest.mark.parametrize(
    ("mode", "raw"),
    [("compact", True), ("tree_summarize", True), ("accumulate", False)],
)
def test_a_synthesizer_prompt_says_whether_it_writes_the_answer_text(
    index: VectorStoreIndex, mode: str, raw: bool
) -> None:
    # a one-prompt engine whose answer is the reply text takes the data's one gold field for
    # labeled demos (mipro_core reads output_is_raw_text); accumulate joins several replies
    program = LlamaIndexProgram(index.as_query_engine(llm=MockLLM(), response_mode=mode))
    (module,) = program.modules.values()
    assert module.output_is_raw_text is raw
    assert all(m.output_is_raw_text is raw for m in program.clone().modules.values())


def test_chat_and_workflow_prompts_say_whether_they_write_the_answer_text(
    index: VectorStoreIndex,
) -> None:
    chat = LlamaIndexProgram(
        index.as_chat_engine(llm=MockLLM(), memory=ChatMemoryBuffer.from_defaults())
    )
    assert [m.output_is_raw_text for m in chat.modules.values()] == [True]
    workflow = LlamaIndexProgram(Pipeline(MockLLM(), timeout=10))  # its result is its own code's
    assert [m.output_is_raw_text for m in workflow.modules.values()] == [False, False]


@pytest.mark.parametrize(("mode", "offered"), [("simple", []), ("rake", []), ("default", [True])])
def test_keyword_retrievers_offer_the_query_keyword_prompt_only_when_an_llm_runs_it(
    mode: str, offered: list[bool]
) -> None:
    from llama_index.core import Document, SimpleKeywordTableIndex

    docs = [Document(text="The Zorvan kettle is made in Lyon.")]
    index = SimpleKeywordTableIndex.from_documents(docs, llm=MockLLM())
    program = LlamaIndexProgram(index.as_query_engine(llm=MockLLM(), retriever_mode=mode))
    keyword = "retriever.query_keyword_extract_template"
    assert [keyword in program.modules] == (offered or [False])
    assert "retriever.keyword_extract_template" in program.skipped  # index-time only
    assert QA in program.modules
