"""What the LLM receives after ``apply``: exact prompt texts, for every target kind."""

from __future__ import annotations

from typing import Any

from llama_index.core import VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.prompts import PromptTemplate
from llama_index.core.prompts.chat_prompts import TEXT_QA_SYSTEM_PROMPT
from llama_index.core.prompts.default_prompts import DEFAULT_TEXT_QA_PROMPT_TMPL
from llama_index.core.query_engine import SubQuestionQueryEngine
from llama_index.core.question_gen import LLMQuestionGenerator
from llama_index.core.tools import QueryEngineTool
from llama_index.core.workflow import StartEvent, StopEvent, Workflow, step
from mipro_llamaindex import LlamaIndexProgram

from mipro_core import Demo, ModuleState, ProgramState, current_state

QA = "response_synthesizer.text_qa_template"
QUERY = "What is the capital of France?"
CONTEXT = "Paris is the capital of France. The Seine flows through Paris."
STATE = ModuleState(
    "Answer with the city only. Never echo {query_str}.",
    (
        Demo(
            {"context_str": "Rome is the capital of Italy.", "query_str": "Capital of Italy?"},
            {"answer": "Rome"},
        ),
    ),
)
PREFACE = (
    "Answer with the city only. Never echo { query_str }.\n\n"
    "Examples:\n\n"
    "Example 1:\n"
    "context_str: Rome is the capital of Italy.\n"
    "query_str: Capital of Italy?\n"
    "answer: Rome"
)


def qa_text(context: str, query: str) -> str:
    return DEFAULT_TEXT_QA_PROMPT_TMPL.format(context_str=context, query_str=query)


def test_completion_model_receives_exact_prompt_and_restore_is_exact(
    index: VectorStoreIndex,
) -> None:
    engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=1)  # MockLLM echoes its prompt
    program = LlamaIndexProgram(engine)
    original = current_state(program)
    before, _ = program.run({"query": QUERY})
    assert before == qa_text(CONTEXT, QUERY)

    program.apply(ProgramState({QA: STATE}))
    after, trace = program.run({"query": QUERY})
    assert after == PREFACE + "\n\n" + qa_text(CONTEXT, QUERY)
    assert program.modules[QA].state == STATE
    assert [c.outputs["answer"] for c in trace.calls] == [after]

    program.apply(original)
    restored, _ = program.run({"query": QUERY})
    assert restored == before


def test_chat_model_sees_the_rewritten_chat_branch(index: VectorStoreIndex, scripted: Any) -> None:
    llm = scripted(chat_model=True)
    program = LlamaIndexProgram(index.as_query_engine(llm=llm, similarity_top_k=1))
    program.apply(ProgramState({QA: STATE}))
    program.run({"query": QUERY})
    [(system, user)] = llm.received
    assert system == ("system", PREFACE + "\n\n" + TEXT_QA_SYSTEM_PROMPT.content)
    assert user[0] == "user"
    assert user[1].startswith("Context information is below.\n---------------------\n" + CONTEXT)
    assert user[1].endswith(f"Query: {QUERY}\nAnswer: ")


def test_chat_engine_system_prompt_is_rewritten(index: VectorStoreIndex, scripted: Any) -> None:
    llm = scripted(chat_model=True)
    engine = index.as_chat_engine(
        llm=llm, similarity_top_k=1, memory=ChatMemoryBuffer.from_defaults()
    )
    template = engine._context_prompt_template.template
    program = LlamaIndexProgram(engine)
    state = ModuleState("Reply in French.")
    program.apply(ProgramState({"context_prompt_template": state}))
    _reply, trace = program.run({"message": QUERY})
    [transcript] = llm.received
    assert transcript == [
        ("system", "Reply in French.\n\n" + template.format(context_str=CONTEXT)),
        ("user", QUERY),
    ]
    assert [(c.module, dict(c.inputs)) for c in trace.calls] == [
        ("context_prompt_template", {"context_str": CONTEXT, "query_str": QUERY})
    ]
    assert engine.chat_history == []  # the user's own conversation is untouched


class Writer(Workflow):
    def __init__(self, llm: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.llm = llm
        self.prompt = PromptTemplate("Write one line about {topic}.")

    @step
    async def write(self, ev: StartEvent) -> StopEvent:
        return StopEvent(result=await self.llm.apredict(self.prompt, topic=ev.topic))


def test_workflow_prompt_is_rewritten() -> None:
    program = LlamaIndexProgram(Writer(MockLLM(), timeout=10))
    demo = Demo({"topic": "rain"}, {"output": "Rain taps {softly}."})
    program.apply(ProgramState({"prompt": ModuleState("Rhyme.", (demo,))}))
    text, trace = program.run({"topic": "snow"})
    assert text == (
        "Rhyme.\n\nExamples:\n\nExample 1:\ntopic: rain\noutput: Rain taps { softly }.\n\n"
        "Write one line about snow."
    )
    assert [(c.module, dict(c.inputs)) for c in trace.calls] == [("prompt", {"topic": "snow"})]


def test_owner_that_rebuilds_templates_still_gets_ours(index: VectorStoreIndex) -> None:
    llm = MockLLM()
    generator = LLMQuestionGenerator.from_defaults(llm=llm)
    original_prompt = generator._prompt
    engine = SubQuestionQueryEngine.from_defaults(
        query_engine_tools=[
            QueryEngineTool.from_defaults(index.as_query_engine(llm=llm), name="capitals")
        ],
        llm=llm,
        question_gen=generator,
    )
    program = LlamaIndexProgram(engine)
    original = current_state(program)
    name = "question_gen.question_gen_prompt"
    program.apply(ProgramState({name: ModuleState("Ask {at most} two questions.")}))
    installed = generator._prompt
    assert installed.get_template().startswith("Ask { at most } two questions.\n\n")
    assert installed.output_parser is original_prompt.output_parser
    assert installed.template_vars == original_prompt.template_vars
    program.apply(original)
    assert generator._prompt is original_prompt
