"""``LlamaIndexProgram.clone()``: replicas for parallel trials."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.prompts import PromptTemplate
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.response_synthesizers import BaseSynthesizer, get_response_synthesizer
from llama_index.core.workflow import Event, StartEvent, StopEvent, Workflow, step
from mipro_llamaindex import LlamaIndexProgram
from mipro_llamaindex.testing import HashingEmbedding

from mipro_core import ModuleState, ProgramState

QA = "response_synthesizer.text_qa_template"
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


class Drafted(Event):
    draft: str


class DraftAndPolish(Workflow):
    polish_prompt = PromptTemplate("Polish this draft: {draft}")

    def __init__(self) -> None:
        super().__init__(timeout=30)
        self.llm = MockLLM()
        self.draft_prompt = PromptTemplate("Draft an answer to {question}")

    @step
    async def draft(self, ev: StartEvent) -> Drafted:
        return Drafted(draft=await self.llm.apredict(self.draft_prompt, question=ev.question))

    @step
    async def polish(self, ev: Drafted) -> StopEvent:
        return StopEvent(result=await self.llm.apredict(self.polish_prompt, draft=ev.draft))


def engine() -> Any:
    return build_index().as_query_engine(llm=MockLLM())  # MockLLM echoes the prompt


def state_for(program: LlamaIndexProgram, word: str) -> ProgramState:
    return ProgramState(
        {name: ModuleState(f"Instruction {word} for {name}.") for name in program.modules}
    )


def answers(program: LlamaIndexProgram) -> list[Any]:
    return [program.run(q)[0] for q in QUESTIONS]


def prompt_texts(obj: Any) -> dict[str, str]:
    return {k: v.get_template() for k, v in obj.get_prompts().items()}


def test_rewriting_a_clone_never_changes_the_original() -> None:
    obj = engine()
    program = LlamaIndexProgram(obj)
    before_prompts, before = prompt_texts(obj), answers(program)
    replica = program.clone()
    replica.apply(state_for(replica, "alpha"))
    assert prompt_texts(obj) == before_prompts
    assert answers(program) == before
    assert all("Instruction alpha" in a for a in answers(replica))
    assert replica.target is not obj


def test_a_clone_shares_the_llm_retriever_and_index() -> None:
    obj = engine()
    replica = LlamaIndexProgram(obj).clone().target
    assert replica._retriever is obj._retriever
    assert replica._response_synthesizer is not obj._response_synthesizer
    assert replica._response_synthesizer._llm is obj._response_synthesizer._llm
    ours, theirs = replica.get_prompts(), obj.get_prompts()
    assert all(ours[k] is not theirs[k] for k in ours)


def test_a_clone_takes_the_current_state_and_restores_to_the_original() -> None:
    program = LlamaIndexProgram(engine())
    before = answers(program)
    program.apply(state_for(program, "beta"))
    replica = program.clone()
    assert ProgramState({n: m.state for n, m in replica.modules.items()}) == state_for(
        program, "beta"
    )
    assert answers(replica) == answers(program)
    replica.apply(ProgramState({n: m.initial_state for n, m in replica.modules.items()}))
    assert answers(replica) == before


def test_clones_run_concurrently_give_the_sequential_results() -> None:
    program = LlamaIndexProgram(engine())
    replicas = [program.clone() for _ in range(3)]
    for i, replica in enumerate(replicas):
        replica.apply(state_for(replica, f"w{i}"))
    programs = [program, *replicas]
    sequential = [[p.run(q) for q in QUESTIONS] for p in programs]
    jobs = [(p, i) for p in range(len(programs)) for i in range(len(QUESTIONS))] * 3
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda job: programs[job[0]].run(QUESTIONS[job[1]]), jobs))
    for (p, i), result in zip(jobs, results, strict=True):
        assert result == sequential[p][i]


def test_traces_attribute_each_clone_calls_to_its_own_modules() -> None:
    program = LlamaIndexProgram(engine())
    one, two = program.clone(), program.clone()
    one.apply(state_for(one, "alpha"))
    two.apply(state_for(two, "beta"))
    for replica, word, other in ((one, "alpha", "beta"), (two, "beta", "alpha")):
        _, trace = replica.run(QUESTIONS[0])
        assert [c.module for c in trace.calls] == [QA]
        assert trace.unattributed_calls == 0
        text = trace.calls[0].outputs["answer"]
        assert f"Instruction {word}" in text and other not in text


def test_a_workflow_clone_leaves_class_and_instance_prompts_alone() -> None:
    flow = DraftAndPolish()
    program = LlamaIndexProgram(flow)
    replica = program.clone()
    replica.apply(state_for(replica, "gamma"))
    assert flow.draft_prompt.get_template() == "Draft an answer to {question}"
    assert "polish_prompt" not in vars(flow)
    assert DraftAndPolish.polish_prompt.get_template() == "Polish this draft: {draft}"
    result, trace = replica.run({"question": "Paris?"})
    assert "Instruction gamma" in str(result) and trace.unattributed_calls == 0
    assert "Instruction gamma" not in str(program.run({"question": "Paris?"})[0])
    assert replica.target.llm is flow.llm


class Hidden:
    """Holds the synthesizer where the attribute scan does not look."""

    def __init__(self, synthesizer: BaseSynthesizer) -> None:
        self.synthesizer = synthesizer


class HiddenEngine(CustomQueryEngine):
    """A custom engine whose synthesizer mipro finds but cannot repoint in a copy."""

    box: Any

    def _get_prompt_modules(self) -> dict[str, Any]:
        return {"synth": self.box.synthesizer}

    def custom_query(self, query_str: str) -> str:
        return str(self.box.synthesizer.get_response(query_str, TEXTS))


def test_an_owner_that_cannot_be_repointed_is_refused() -> None:
    synth = get_response_synthesizer(
        llm=MockLLM(), text_qa_template=PromptTemplate("Q {query_str} {context_str}")
    )
    program = LlamaIndexProgram(HiddenEngine(box=Hidden(synth)))
    assert program.modules
    with pytest.raises(NotImplementedError, match="cannot be cloned"):
        program.clone()
