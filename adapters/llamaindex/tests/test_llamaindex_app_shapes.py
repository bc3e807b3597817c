"""App shapes from LlamaIndex's own docs: custom query engines, LLM rerankers, fusion retrievers,
agents (refused), user modules whose names start like framework packages, async workflows."""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.agent.workflow import ReActAgent
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.llms import LLM, MockLLM
from llama_index.core.postprocessor import LLMRerank
from llama_index.core.program import LLMTextCompletionProgram
from llama_index.core.prompts import PromptTemplate
from llama_index.core.query_engine import CustomQueryEngine, RetrieverQueryEngine
from llama_index.core.retrievers import QueryFusionRetriever
from llama_index.core.tools import FunctionTool
from llama_index.core.workflow import StartEvent, StopEvent, Workflow, step
from mipro_llamaindex import LlamaIndexProgram
from pydantic import BaseModel

import mipro_core
from mipro_core import Demo, InvalidInputError, ModuleState, ProgramState, Signature


class Answer(BaseModel):
    answer: str


class RAGQueryEngine(CustomQueryEngine):
    """LlamaIndex's documented custom query engine: a template field used with ``llm.predict``."""

    retriever: BaseRetriever
    llm: LLM
    qa_prompt: PromptTemplate

    def custom_query(self, query_str: str) -> str:
        nodes = self.retriever.retrieve(query_str)
        context = "\n".join(n.node.get_content() for n in nodes)
        return str(self.llm.predict(self.qa_prompt, context_str=context, query_str=query_str))


def test_a_custom_query_engine_s_template_field_is_a_module(
    index: VectorStoreIndex, scripted: Any
) -> None:
    llm = scripted()
    qa = PromptTemplate("Context:\n{context_str}\nQuestion: {query_str}\nAnswer:")
    engine = RAGQueryEngine(retriever=index.as_retriever(similarity_top_k=1), llm=llm, qa_prompt=qa)
    program = LlamaIndexProgram(engine)
    assert list(program.modules) == ["qa_prompt"]
    _, trace = program.run({"query": "Which river flows through Paris?"})
    assert [c.module for c in trace.calls] == ["qa_prompt"] and trace.unattributed_calls == 0
    program.apply(ProgramState({"qa_prompt": ModuleState("Answer in one word.")}))
    assert engine.qa_prompt.template.startswith("Answer in one word.\n\nContext:")
    engine.query("Which river flows through Paris?")
    assert llm.received[-1].startswith("Answer in one word.")
    program.apply(ProgramState({"qa_prompt": program.modules["qa_prompt"].initial_state}))
    assert engine.qa_prompt is qa  # restore is exact: the user's own template object again


def test_an_llm_reranker_s_prompt_is_discovered(index: VectorStoreIndex, scripted: Any) -> None:
    llm = scripted()
    engine = index.as_query_engine(
        llm=llm, similarity_top_k=3, node_postprocessors=[LLMRerank(llm=llm, top_n=1)]
    )
    program = LlamaIndexProgram(engine)
    name = "node_postprocessors[0].choice_select_prompt"
    # found (its calls are attributed to it, not to an unknown template), and listed as skipped
    # because LLMRerank's default prompt is a selector template this adapter does not rewrite
    assert "SelectorPromptTemplate" in program.skipped[name]


def test_a_template_rebuilt_on_every_read_is_not_offered(
    index: VectorStoreIndex, scripted: Any
) -> None:
    llm = scripted()
    fusion = QueryFusionRetriever(
        [index.as_retriever(similarity_top_k=1)], llm=llm, num_queries=2, use_async=False
    )
    program = LlamaIndexProgram(RetrieverQueryEngine.from_args(fusion, llm=llm))
    name = "retriever.query_gen_prompt"
    assert name not in program.modules
    assert "rebuilds this template" in program.skipped[name]
    with pytest.raises(InvalidInputError, match="cannot include"):
        LlamaIndexProgram(RetrieverQueryEngine.from_args(fusion, llm=llm), include=[name])


def test_agents_are_refused_with_a_clear_error(scripted: Any) -> None:
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    agent = ReActAgent(tools=[FunctionTool.from_defaults(add)], llm=scripted())
    with pytest.raises(InvalidInputError, match="agents are not supported"):
        mipro_core.adapt(agent)


def test_class_templates_of_a_user_module_named_like_a_framework_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scripted: Any
) -> None:
    (tmp_path / "abc_flows.py").write_text(
        "from llama_index.core.prompts import PromptTemplate\n"
        "from llama_index.core.workflow import StartEvent, StopEvent, Workflow, step\n\n"
        "class Flow(Workflow):\n"
        '    qa = PromptTemplate("Q: {q}")\n\n'
        "    @step\n"
        "    async def go(self, ev: StartEvent) -> StopEvent:\n"
        "        return StopEvent(result=await self.llm.apredict(self.qa, q=ev.q))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("abc_flows")
    try:
        flow = module.Flow(timeout=10)
        flow.llm = scripted()
        assert list(LlamaIndexProgram(flow).modules) == ["qa"]
    finally:
        sys.modules.pop("abc_flows", None)


class LoopRecorder(Workflow):
    """Records the event loop each run executes on."""

    prompt = PromptTemplate("Say {word}.")

    def __init__(self, llm: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.llm = llm
        self.loops: list[asyncio.AbstractEventLoop] = []

    @step
    async def go(self, ev: StartEvent) -> StopEvent:
        self.loops.append(asyncio.get_running_loop())
        return StopEvent(result=await self.llm.apredict(self.prompt, word=ev.word))


def test_workflow_runs_share_one_long_lived_event_loop(scripted: Any) -> None:
    """Real async clients bind to the first loop they run on: every run must use the same loop,
    and that loop must stay open between runs."""
    workflow = LoopRecorder(scripted(), timeout=10)
    first, second = LlamaIndexProgram(workflow), LlamaIndexProgram(workflow)
    for program in (first, first, second):
        output, trace = program.run({"word": "hi"})
        assert output == "Say hi." and [c.module for c in trace.calls] == ["prompt"]
    assert len(workflow.loops) == 3 and len(set(map(id, workflow.loops))) == 1
    assert not workflow.loops[0].is_closed()


class SettingsFlow(Workflow):
    """A workflow whose step calls ``Settings.llm`` (it holds no LLM of its own)."""

    qa = PromptTemplate("Question: {question}\nAnswer:")

    @step
    async def go(self, ev: StartEvent) -> StopEvent:
        from llama_index.core import Settings

        return StopEvent(result=await Settings.llm.apredict(self.qa, question=ev.question))


def test_the_default_proposer_is_the_settings_llm_you_set(
    scripted: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llama_index.core import Settings

    monkeypatch.setattr(Settings, "_llm", None)
    program = LlamaIndexProgram(SettingsFlow(timeout=10))
    assert program.default_lm() is None  # nothing set: no proposer guessed (no OpenAI default)
    monkeypatch.setattr(Settings, "_llm", MockLLM())  # what `Settings.llm = None` stores
    assert program.default_lm() is None
    llm = scripted()
    monkeypatch.setattr(Settings, "_llm", llm)
    proposer = program.default_lm()
    assert proposer is not None and proposer.llm is llm


def test_long_demo_inputs_are_cut_so_demos_fit_the_window() -> None:
    from mipro_llamaindex._templates import DEMO_INPUT_CHARS, render_demo

    context = "A long retrieved passage. " * 400
    demo = Demo({"context_str": context, "query_str": "Who?"}, {"answer": "Ann"})
    text = render_demo(demo, Signature(("context_str", "query_str"), ("answer",)))
    assert len(text) < DEMO_INPUT_CHARS + 200
    assert "[... cut for this example]" in text
    assert text.endswith("query_str: Who?\nanswer: Ann")


class ProgramFlow(Workflow):
    """A workflow whose step runs an ``LLMTextCompletionProgram`` (a pydantic program)."""

    def __init__(self, llm: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.program = LLMTextCompletionProgram.from_defaults(
            output_cls=Answer, prompt_template_str="Answer {question} as JSON.", llm=llm
        )

    @step
    async def go(self, ev: StartEvent) -> StopEvent:
        return StopEvent(result=self.program(question=ev.question).answer)


def test_a_pydantic_program_s_template_is_discovered(scripted: Any) -> None:
    program = LlamaIndexProgram(ProgramFlow(scripted(), timeout=10))
    assert list(program.modules) == ["program.prompt"]


class SlowFlow(Workflow):
    """Always exceeds its own ``timeout``; counts how often it is started."""

    prompt = PromptTemplate("Say {word}.")
    started = 0

    @step
    async def go(self, ev: StartEvent) -> StopEvent:
        type(self).started += 1
        await asyncio.sleep(5)
        return StopEvent(result="late")


def test_a_workflow_timing_out_is_a_failed_run_not_a_retried_fault(scripted: Any) -> None:
    """Its name says "timeout", but it is the workflow's own limit: retrying re-pays the calls
    made before it and fails again."""
    SlowFlow.started = 0
    data = [mipro_core.Example({"word": f"w{i}"}, {"answer": "x"}) for i in range(4)]
    with pytest.raises(mipro_core.ErrorBudgetExceededError):
        mipro_core.optimize(
            SlowFlow(timeout=0.05),
            data,
            lambda ex, pred, trace=None: 0.0,
            valset=data,
            proposer_lm=scripted(),
        )
    assert SlowFlow.started == len(data)  # each baseline run started once: no retries
