"""App shapes run through ``optimize()`` end to end: the proposer sees the program, the winning
prompts are written into the user's objects and used on the next invoke."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import (
    ChatPromptTemplate,
    FewShotChatMessagePromptTemplate,
    MessagesPlaceholder,
)
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from lc_test_support import EchoChatModel
from mipro_langchain import LangChainProgram
from test_app_shapes import Answer, ToolCallingChatModel

import mipro_core
from mipro_core import Example, InvalidInputError
from mipro_core.testing import SimulatedLM

ORIGINAL = "Answer the quiz question."


def _data(n: int = 8) -> list[Example]:
    return [Example({"question": f"What is item {i}?"}, {"answer": f"a{i}"}) for i in range(n)]


def _lost_the_original(example: Example, prediction: Any, trace: Any = None) -> float:
    """1 when the echoed prompt no longer has the original instruction: any proposal wins."""
    return float(ORIGINAL not in str(prediction))


def _optimize(app: Any, metric: Any = _lost_the_original) -> mipro_core.OptimizationResult:
    return mipro_core.optimize(
        app, _data(), metric, proposer_lm=SimulatedLM(seed=0), max_trials=3, progress=False
    )


def test_a_chat_prompt_holding_few_shot_examples_optimizes_and_keeps_the_winner() -> None:
    """``FewShotChatMessagePromptTemplate`` has no ``pretty_repr``: describing the program for
    the proposer must not fail, and must show the prompt's examples."""
    examples = ChatPromptTemplate.from_messages([("human", "{input}"), ("ai", "{output}")])
    few_shot = FewShotChatMessagePromptTemplate(
        example_prompt=examples, examples=[{"input": "2+2?", "output": "4"}]
    )
    prompt = ChatPromptTemplate.from_messages(
        [("system", ORIGINAL), few_shot, ("human", "{question}")]
    )
    chain = prompt | EchoChatModel() | StrOutputParser()
    described = LangChainProgram(chain).describe()
    assert "2+2?" in described and ORIGINAL in described
    result = _optimize(chain)
    assert result.best_score == 1.0 > result.baseline_score
    (winner,) = result.state.modules.values()
    assert ORIGINAL not in winner.instruction
    assert chain.invoke({"question": "Q?"}).startswith(f"system: {winner.instruction}")


@tool
def lookup(item: str) -> str:
    """Look an item up."""
    return item


def test_a_bind_tools_chain_s_tool_calls_reach_the_metric() -> None:
    """``prompt | llm.bind_tools(tools)`` answers with an ``AIMessage`` whose text is empty:
    the metric must see the message (its ``tool_calls``), not an empty string."""
    chain = ChatPromptTemplate.from_messages(
        [("system", ORIGINAL), ("human", "{question}")]
    ) | ToolCallingChatModel().bind_tools([lookup])
    prediction, trace = LangChainProgram(chain).run({"question": "Q?"})
    assert isinstance(prediction, AIMessage)
    assert [c["name"] for c in prediction.tool_calls] == ["lookup"]
    assert trace.calls[0].outputs["text"]  # the call's arguments, as JSON text

    def called_lookup(example: Example, prediction: Any, trace: Any = None) -> float:
        return float([c["name"] for c in prediction.tool_calls] == ["lookup"])

    result = _optimize(chain, called_lookup)
    assert result.baseline_score == 1.0


def test_a_model_bound_with_tools_does_not_answer_raw_text() -> None:
    """Its reply is usually a tool call: a labeled demo showing the gold answer as the reply's
    text would teach the model to answer instead of calling a tool."""
    prompt = ChatPromptTemplate.from_messages([("system", ORIGINAL), ("human", "{question}")])
    model = ToolCallingChatModel()
    (tools,) = LangChainProgram(prompt | model.bind_tools([lookup])).modules.values()
    assert tools.output_is_raw_text is False
    (plain,) = LangChainProgram(prompt | model.bind(stop=["###"])).modules.values()
    assert plain.output_is_raw_text is True


def test_structured_output_with_the_raw_reply_is_not_taken_as_raw_text() -> None:
    """``with_structured_output(Model, include_raw=True)`` returns ``{"raw", "parsed",
    "parsing_error"}``: the model sits inside a ``RunnableParallel``, and the chain's answer is
    not its reply text, so the data's gold field must not be mapped to it as raw text."""
    prompt = ChatPromptTemplate.from_messages([("system", ORIGINAL), ("human", "{question}")])
    structured = ToolCallingChatModel().with_structured_output(Answer, include_raw=True)
    (module,) = LangChainProgram(prompt | structured).modules.values()
    assert module.output_is_raw_text is False
    prediction, _ = LangChainProgram(prompt | structured).run({"question": "Q?"})
    assert prediction["parsed"] == Answer(answer="answer to Q?")


def test_chat_openai_structured_output_by_tool_calling_has_the_model_s_fields() -> None:
    """``ChatOpenAI.with_structured_output(Model, method="function_calling")`` puts a refusal
    check (a ``RunnableGenerator`` that passes each message through) between the model and its
    ``PydanticToolsParser``: the module's outputs are still the model's fields."""
    openai = pytest.importorskip("langchain_openai", reason="langchain-openai is not installed")
    llm = openai.ChatOpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1", model="m")
    prompt = ChatPromptTemplate.from_messages([("system", ORIGINAL), ("human", "{question}")])
    chain = prompt | llm.with_structured_output(Answer, method="function_calling")
    (module,) = LangChainProgram(chain).modules.values()
    assert module.signature.outputs == ("answer",)
    assert module.output_is_raw_text is False


def test_a_chatbot_s_artifact_with_labeled_demos_applies_to_a_fresh_chain(tmp_path: Path) -> None:
    """Labeled demos keep the example's conversation as given, ``[("user", "...")]``; saved as
    JSON each tuple is a ``["user", "..."]`` list, and ``apply`` must accept it as a message."""

    def build() -> Any:
        prompt = ChatPromptTemplate.from_messages(
            [("system", ORIGINAL), MessagesPlaceholder("messages")]
        )
        return prompt | EchoChatModel() | StrOutputParser()

    chain = build()
    data = [
        Example({"messages": [("user", f"Who is {i}?")]}, {"answer": f"a{i}"}) for i in range(8)
    ]
    result = mipro_core.optimize(
        chain, data, _lost_the_original, proposer_lm=SimulatedLM(seed=0), max_trials=3,
        max_bootstrapped_demos=0, max_labeled_demos=2, progress=False,
    )  # fmt: skip
    (winner,) = result.state.modules.values()
    assert winner.demos  # the case of interest: labeled demos holding a conversation
    result.save(tmp_path / "chatbot.json")
    fresh = build()
    mipro_core.apply(fresh, tmp_path / "chatbot.json")
    turn = {"messages": [("user", "Next?")]}
    assert fresh.invoke(turn) == chain.invoke(turn)


class AsyncOnlyChatModel(BaseChatModel):
    """A model written for async apps: ``_agenerate`` only."""

    @property
    def _llm_type(self) -> str:
        return "async-only"

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        raise NotImplementedError("this model is async only")

    async def _agenerate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="async answer"))])


def test_an_async_only_step_fails_fast_naming_use_async_which_then_works() -> None:
    chain = (
        ChatPromptTemplate.from_messages([("system", ORIGINAL), ("human", "{question}")])
        | AsyncOnlyChatModel()
    )
    with pytest.raises(InvalidInputError, match=r"use_async=True") as caught:
        _optimize(chain)
    assert "this model is async only" in str(caught.value)
    output, trace = LangChainProgram(chain, use_async=True).run({"question": "Q?"})
    assert output == "async answer" and len(trace.calls) == 1


def test_a_not_implemented_error_from_user_code_is_that_run_s_failure() -> None:
    # a step that does not support some inputs: not a missing sync path, so not fail-fast
    def convert(inputs: dict[str, Any]) -> dict[str, Any]:
        if inputs["question"].endswith("3?"):
            raise NotImplementedError("this kind of question is not supported yet")
        return inputs

    chain = (
        RunnableLambda(convert)
        | ChatPromptTemplate.from_messages([("system", ORIGINAL), ("human", "{question}")])
        | EchoChatModel()
        | StrOutputParser()
    )
    result = _optimize(chain)
    baseline = result.trials[0]
    assert baseline.errors == 1  # the one unsupported question failed; the others ran
    with pytest.raises(NotImplementedError, match="not supported yet"):
        LangChainProgram(chain).run({"question": "Question 3?"})
