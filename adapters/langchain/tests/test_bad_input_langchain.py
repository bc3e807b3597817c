"""LangChain input that used to be scored silently or to fail with a bare exception."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from lc_test_support import EchoChatModel, TextChatModel
from mipro_langchain import LangChainProgram

import mipro_core as mc


class CountingModel(TextChatModel):
    """Answers "x" and counts its calls."""

    calls: int = 0

    def answer(self, messages: list[BaseMessage], stop: list[str] | None) -> str:
        self.calls += 1
        return "x"


def _data(n: int, offset: int = 0) -> list[mc.Example]:
    return [mc.Example({"question": f"q{i}"}, {"answer": "x"}) for i in range(offset, offset + n)]


def _metric(example: mc.Example, prediction: Any, trace: Any = None) -> bool:
    return bool(prediction == example.outputs["answer"])


def test_a_system_only_chat_prompt_is_refused_before_any_call() -> None:
    model = CountingModel()
    chain = ChatPromptTemplate.from_messages([("system", "You are terse.")]) | model
    with pytest.raises(mc.InvalidInputError, match=r"\['steps\[0\]'\] read no input.*freeze="):
        mc.optimize(chain, _data(8), _metric, valset=_data(8, 50), max_trials=2)
    assert model.calls == 0


def test_dict_example_inputs_are_named_before_the_run(caplog: pytest.LogCaptureFixture) -> None:
    chain = ChatPromptTemplate.from_messages([("human", "{question}")]) | CountingModel()
    data = [mc.Example({"question": {"q": i}}, {"answer": "x"}) for i in range(8)]
    with caplog.at_level("WARNING", logger="mipro_core"):
        mc.optimize(chain, data, _metric, max_trials=1, num_candidates=2, proposer_lm=_proposer)
    assert "example input 'question' holds dict values" in caplog.text
    assert "module 'steps[0]' formats it as text" in caplog.text


def _proposer(messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
    return ["proposed_instruction: Answer x."] * n


def test_a_mustache_instruction_using_every_delimiter_is_written_literally() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer well."), ("human", "{{question}}")], template_format="mustache"
    )
    program = LangChainProgram(prompt | EchoChatModel() | StrOutputParser())
    text = "Use {{x}}, <% %> <<< >>> [[[ ]]] @@( )@@ and ## marks }}"
    program.apply(mc.ProgramState({"steps[0]": mc.ModuleState(text)}))
    prediction, _ = program.run({"question": "hi"})
    assert prediction == f"system: {text}\nhuman: hi"


def test_a_template_the_template_engine_cannot_read_is_named() -> None:
    prompt = PromptTemplate.from_template("Answer.\n\n{{question}}", template_format="mustache")
    prompt.template = "Answer.\n\n{{question"  # edited after construction: unclosed tag
    with pytest.raises(mc.InvalidInputError, match=r"cannot read prompt 'steps\[0\]'.*unclosed"):
        LangChainProgram(prompt | EchoChatModel())


def test_a_state_the_template_cannot_render_is_named() -> None:
    prompt = PromptTemplate.from_template(
        "Answer.\n\n{{ question.text.strip() }}", template_format="jinja2"
    )
    program = LangChainProgram(prompt | EchoChatModel())
    demo = mc.Demo({"question": "q"}, {"text": "a"})
    with pytest.raises(mc.InvalidInputError, match=r"prompt 'steps\[0\]'.*UndefinedError"):
        program.apply(mc.ProgramState({"steps[0]": mc.ModuleState("New.", (demo,))}))


def _two_variable_chain() -> Any:
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer from the context."),
            ("human", "hello"),
            ("ai", "hi"),
            ("human", "context: {context}\nquestion: {question}"),
        ]
    )
    return prompt | EchoChatModel() | StrOutputParser()


def test_artifact_demos_naming_fields_the_prompt_does_not_read_are_refused(
    tmp_path: Path,
) -> None:
    demo = mc.Demo({"query": "q", "passages": "p"}, {"text": "a"})
    path = mc.save_state(
        tmp_path / "a.json", mc.ProgramState({"steps[0]": mc.ModuleState("Answer.", (demo,))})
    )
    with pytest.raises(mc.ArtifactError, match=r"module 'steps\[0\]'.*\['passages', 'query'\]"):
        mc.apply(_two_variable_chain(), path)


def test_an_artifact_keeping_the_prompts_own_demos_applies_to_a_rebuilt_chain(
    tmp_path: Path,
) -> None:
    program = LangChainProgram(_two_variable_chain())
    own = program.modules["steps[0]"].state
    assert [set(d.inputs) for d in own.demos] == [{"input"}]  # keyed by no prompt variable
    path = mc.save_state(
        tmp_path / "a.json",
        mc.ProgramState({"steps[0]": mc.ModuleState("Be brief.", own.demos)}),
    )
    rebuilt = mc.apply(_two_variable_chain(), path)
    assert rebuilt.modules["steps[0]"].state.instruction == "Be brief."
