"""Discovery: every reachable prompt is one module with a stable, readable path name."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser, StrOutputParser
from langchain_core.prompts import (
    ChatPromptTemplate,
    FewShotChatMessagePromptTemplate,
    FewShotPromptTemplate,
    MessagesPlaceholder,
    PromptTemplate,
)
from langchain_core.runnables import (
    ConfigurableField,
    RunnableBranch,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
)
from lc_test_support import EchoChatModel
from mipro_langchain import LangChainProgram, NoPromptFoundError
from pydantic import BaseModel

import mipro_core


def chat(system: str, human: str = "{question}") -> ChatPromptTemplate:
    return ChatPromptTemplate.from_messages([("system", system), ("human", human)])


def names(runnable: Any) -> list[str]:
    return list(LangChainProgram(runnable).modules)


def test_sequence_names_steps_by_index() -> None:
    llm = EchoChatModel()
    p1, p2 = chat("Rewrite."), chat("Answer.", "{text}")
    chain = p1 | llm | StrOutputParser() | (lambda t: {"text": t}) | p2 | llm
    program = LangChainProgram(chain)
    assert list(program.modules) == ["steps[0]", "steps[4]"]
    assert program.modules["steps[0]"].prompt is p1
    assert program.modules["steps[4]"].prompt is p2


def test_parallel_and_assign_use_keys_and_nested_paths() -> None:
    llm = EchoChatModel()
    chain = RunnableParallel(
        answer=chat("A.") | llm, **{"odd key": chat("B.") | llm}
    ) | RunnablePassthrough.assign(summary=chat("C.", "{answer}") | llm)
    assert names(chain) == [
        "steps[0].answer.steps[0]",
        'steps[0]["odd key"].steps[0]',
        "steps[1].summary.steps[0]",
    ]


def test_bindings_add_no_path_segment() -> None:
    llm = EchoChatModel()
    p1, p2 = chat("One."), chat("Two.")
    plain = p1 | llm
    wrapped = (p2 | llm.bind(stop=["x"])).with_config(run_name="x").with_retry()
    assert names(plain) == ["steps[0]"]
    assert names(wrapped) == ["steps[0]"]


def test_branch_and_fallbacks_are_walked() -> None:
    llm = EchoChatModel()
    a, b, c, d = chat("A."), chat("B."), chat("C."), chat("D.")
    branch = RunnableBranch((lambda x: "x" in x["question"], a | llm), b | llm)
    chain = branch.with_fallbacks([c | llm, d | llm])
    assert names(chain) == [
        "branches[0].steps[0]",
        "default.steps[0]",
        "fallbacks[0].steps[0]",
        "fallbacks[1].steps[0]",
    ]
    # get_prompts() misses all of them: the reason for the adapter's own walker
    assert chain.get_prompts() == []


def test_lambda_dependencies_are_found() -> None:
    llm = EchoChatModel()
    inner = chat("Inner.") | llm

    def call_inner(x: dict[str, Any]) -> Any:
        return inner.invoke(x)

    chain = (
        chat("Outer.")
        | llm
        | StrOutputParser()
        | RunnableLambda(lambda text: {"question": text})
        | RunnableLambda(call_inner)
    )
    assert names(chain) == ["steps[0]", "steps[4].deps[0].steps[0]"]


def test_configurable_alternatives_and_fields() -> None:
    llm = EchoChatModel()
    main = chat("Main.").configurable_alternatives(
        ConfigurableField(id="prompt"), default_key="main", other=chat("Other.")
    )
    assert names(main | llm) == ["steps[0]", "steps[0].alternatives.other"]


def test_shared_prompt_is_one_module_named_by_first_path() -> None:
    llm = EchoChatModel()
    shared = chat("Shared.")
    sub = shared | llm
    chain = RunnableParallel(first=sub, second=sub | StrOutputParser())
    program = LangChainProgram(chain)
    assert list(program.modules) == ["first.steps[0]"]


def test_prompt_at_root_and_explicit_names() -> None:
    prompt = chat("Root.")
    assert names(prompt) == ["prompt"]
    p1, p2 = chat("A."), chat("B.")
    p1.name = "rewrite"
    assert names(p1 | EchoChatModel() | StrOutputParser() | p2) == ["rewrite", "steps[3]"]
    p2.name = "rewrite"  # duplicate explicit names fall back to paths
    assert names(p1 | EchoChatModel() | StrOutputParser() | p2) == ["steps[0]", "steps[3]"]


def test_names_are_stable_across_rebuilds() -> None:
    def build() -> Any:
        llm = FakeListChatModel(responses=["x"])
        return RunnableParallel(q=chat("Q.") | llm, r=chat("R.") | llm) | chat("S.", "{q}{r}")

    assert names(build()) == names(build())


def test_prompt_kinds_and_signatures() -> None:
    class Answer(BaseModel):
        answer: str
        confidence: float

    llm = EchoChatModel()
    with_placeholder = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "{question}")]
    )
    string = PromptTemplate.from_template("Say {word}.")
    few_shot_chat = ChatPromptTemplate.from_messages(
        [
            ("system", "Translate."),
            FewShotChatMessagePromptTemplate(
                examples=[{"input": "hi", "output": "salut"}],
                example_prompt=ChatPromptTemplate.from_messages(
                    [("human", "{input}"), ("ai", "{output}")]
                ),
            ),
            ("human", "{input}"),
        ]
    )
    few_shot_string = FewShotPromptTemplate(
        examples=[{"q": "1+1", "a": "2"}],
        example_prompt=PromptTemplate.from_template("Q: {q}\nA: {a}"),
        prefix="Do arithmetic.",
        suffix="Q: {q}\nA:",
        input_variables=["q"],
    )
    chain = RunnableParallel(
        chat=with_placeholder | llm | StrOutputParser(),
        string=string | llm | JsonOutputParser(),
        fsc=few_shot_chat | llm | PydanticOutputParser(pydantic_object=Answer),
        fss=few_shot_string | llm,
    )
    modules = LangChainProgram(chain).modules
    assert modules["chat.steps[0]"].signature.inputs == ("history", "question")
    assert modules["chat.steps[0]"].signature.outputs == ("text",)
    assert modules["string.steps[0]"].signature.inputs == ("word",)
    assert modules["string.steps[0]"].signature.outputs == ("text",)  # schema-less JSON
    assert modules["fsc.steps[0]"].signature.outputs == ("answer", "confidence")
    assert modules["fsc.steps[0]"].state.instruction == "Translate."
    assert [dict(d.inputs) for d in modules["fsc.steps[0]"].state.demos] == [{"input": "hi"}]
    assert [dict(d.outputs) for d in modules["fsc.steps[0]"].state.demos] == [{"text": "salut"}]
    assert modules["fss.steps[0]"].state.instruction == "Do arithmetic."
    assert [dict(d.inputs) for d in modules["fss.steps[0]"].state.demos] == [{"q": "1+1"}]


def test_instruction_is_the_variable_free_preface() -> None:
    prompt = chat("You are terse.\n\nUse {{json}} braces.\n\nContext: {context}\n\nBe kind.")
    module = LangChainProgram(prompt).modules["prompt"]
    assert module.state.instruction == "You are terse.\n\nUse {json} braces."
    no_system = ChatPromptTemplate.from_messages([("human", "{question}")])
    assert LangChainProgram(no_system).modules["prompt"].state.instruction == ""


def test_module_id_is_merged_into_prompt_metadata() -> None:
    prompt = chat("A.")
    prompt.metadata = {"lc_hub_owner": "someone"}
    LangChainProgram(prompt | EchoChatModel())
    assert prompt.metadata == {"lc_hub_owner": "someone", "mipro_module": "steps[0]"}


def test_no_prompt_gives_a_clear_error() -> None:
    chain = RunnableLambda(lambda x: x) | EchoChatModel()
    with pytest.raises(NoPromptFoundError, match="no prompt template found in RunnableSequence"):
        LangChainProgram(chain)
    with pytest.raises(mipro_core.InvalidInputError):
        mipro_core.adapt(chain)


def test_default_lm_only_for_exactly_one_model() -> None:
    llm = EchoChatModel()
    one = LangChainProgram(chat("A.") | llm | StrOutputParser() | chat("B.", "{q}") | llm)
    lm = one.default_lm()
    assert lm is not None and lm.model is llm
    two = LangChainProgram(chat("A.") | llm | StrOutputParser() | chat("B.") | EchoChatModel())
    assert two.default_lm() is None


def test_describe_shows_structure_and_modules() -> None:
    program = LangChainProgram(chat("Answer briefly.") | EchoChatModel() | StrOutputParser())
    text = program.describe()
    assert "RunnableSequence" in text and "steps[0]" in text
    assert "Answer briefly." in text and "(question) -> (text)" in text
