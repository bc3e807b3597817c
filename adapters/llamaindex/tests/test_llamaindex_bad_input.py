"""LlamaIndex input that used to be scored silently or to fail with a bare exception."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.prompts import PromptTemplate
from mipro_llamaindex import LlamaIndexProgram

import mipro_core as mc

QA = "response_synthesizer.text_qa_template"


def _data(n: int) -> list[mc.Example]:
    return [
        mc.Example({"query": f"What is the capital of country {i}?"}, {"answer": "x"})
        for i in range(n)
    ]


def _metric(example: mc.Example, prediction: Any, trace: Any = None) -> float:
    return 0.0


def test_a_template_without_variables_is_refused_before_any_call(
    index: VectorStoreIndex, scripted: Any
) -> None:
    llm = scripted()
    engine = index.as_query_engine(llm=llm)
    engine.update_prompts({"response_synthesizer:text_qa_template": PromptTemplate("Say hi.")})
    with pytest.raises(mc.InvalidInputError, match=rf"\['{QA}'\] read no input"):
        mc.optimize(engine, _data(8), _metric, max_trials=1)
    assert llm.received == []


def test_non_text_queries_are_named_before_the_run(
    index: VectorStoreIndex, scripted: Any, caplog: pytest.LogCaptureFixture
) -> None:
    data = [mc.Example({"query": i}, {"answer": "x"}) for i in range(8)]
    with caplog.at_level("WARNING", logger="mipro_core"):
        mc.optimize(
            index.as_query_engine(llm=scripted()),
            data,
            _metric,
            max_trials=1,
            num_candidates=2,
            proposer_lm=lambda messages, n=1, temperature=0.0: ["instruction: Be brief."] * n,
        )
    assert "example input 'query' holds int values" in caplog.text
    assert "the program formats it as text" in caplog.text


def test_artifact_demos_naming_fields_the_template_does_not_read_are_refused(
    index: VectorStoreIndex, scripted: Any, tmp_path: Path
) -> None:
    engine = index.as_query_engine(llm=scripted())
    names = list(LlamaIndexProgram(engine).modules)
    demo = mc.Demo({"question": "q", "context_str": "c"}, {"answer": "a"})
    state = mc.ProgramState({n: mc.ModuleState("Answer.", (demo,)) for n in names})
    with pytest.raises(mc.ArtifactError, match=rf"module '{QA}'.*\['question'\]"):
        mc.apply(engine, mc.save_state(tmp_path / "a.json", state))


def test_a_prompt_replaced_by_something_else_is_named_on_apply(
    index: VectorStoreIndex, scripted: Any
) -> None:
    engine = index.as_query_engine(llm=scripted())
    program = LlamaIndexProgram(engine)
    engine._response_synthesizer._text_qa_template = "not a template"
    with pytest.raises(mc.InvalidInputError, match=rf"prompt '{QA}'.*no longer holds"):
        program.apply(mc.ProgramState({QA: mc.ModuleState("Be brief.")}))


def test_an_engine_without_a_template_is_refused_saying_what_is_optimized(
    index: VectorStoreIndex, scripted: Any
) -> None:
    engine = index.as_chat_engine(llm=scripted(chat_model=True), chat_mode="simple")
    with pytest.raises(mc.InvalidInputError) as caught:
        mc.optimize(engine, [mc.Example({"message": "hi"}, {"answer": "x"})], _metric)
    message = str(caught.value)
    assert "SimpleChatEngine has no prompt template" in message
    assert "plain string" in message and "docs/llamaindex.md" in message
