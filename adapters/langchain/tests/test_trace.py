"""Traces: every LM call is attributed to the module whose prompt fed it, under concurrency too."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.output_parsers import JsonOutputParser, StrOutputParser
from langchain_core.prompt_values import ChatPromptValue
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.runnables import (
    RunnableBranch,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
)
from lc_test_support import EchoChatModel, EchoLLM, FailingChatModel
from mipro_langchain import LangChainProgram, TraceRecorder, UnattributedCallWarning
from pydantic import BaseModel

from mipro_core import Trace


def chat(system: str, human: str = "{question}") -> ChatPromptTemplate:
    return ChatPromptTemplate.from_messages([("system", system), ("human", human)])


def calls(trace: Trace) -> list[tuple[str, dict[str, Any]]]:
    return [(c.module, dict(c.inputs)) for c in trace.calls]


def two_stage(llm: Any) -> Any:
    rewrite = chat("Rewrite the question as a search query.")
    answer = chat("Answer using the context.\n\nContext: {context}")
    return (
        RunnablePassthrough.assign(query=rewrite | llm | StrOutputParser())
        | RunnablePassthrough.assign(context=RunnableLambda(lambda d: f"docs about {d['query']}"))
        | answer
        | llm
        | StrOutputParser()
    )


def test_two_stage_trace_pairs_prompt_inputs_with_model_outputs() -> None:
    program = LangChainProgram(two_stage(EchoChatModel()))
    prediction, trace = program.run({"question": "Who wrote Hamlet?"})
    assert [c.module for c in trace.calls] == ["steps[0].query.steps[0]", "steps[2]"]
    first, second = trace.calls
    assert dict(first.inputs) == {"question": "Who wrote Hamlet?"}
    assert first.outputs["text"].startswith("system: Rewrite the question")
    assert dict(second.inputs) == {
        "question": "Who wrote Hamlet?",
        "context": f"docs about {first.outputs['text']}",
    }
    assert second.outputs["text"] == prediction
    assert trace.unattributed_calls == 0
    assert isinstance(prediction, str) and type(prediction) is str


def test_generic_and_list_fakes_are_attributed() -> None:
    llm = GenericFakeChatModel(messages=iter(["first", "second"]))
    program = LangChainProgram(chat("A.") | llm | StrOutputParser())
    assert program.run({"question": "q"})[1].calls[0].outputs == {"text": "first"}
    listed = LangChainProgram(chat("B.") | FakeListChatModel(responses=["r"]))
    prediction, trace = listed.run({"question": "q"})
    assert prediction == "r" and calls(trace) == [("steps[0]", {"question": "q"})]


def test_model_nested_in_sub_chain_and_behind_lambda() -> None:
    llm = EchoChatModel()
    sub_chain = chat("Sub.") | (llm | StrOutputParser())
    behind_lambda = chat("Lambda.") | RunnableLambda(lambda value: llm.invoke(value))
    modified = (
        chat("Modified.")
        | RunnableLambda(lambda value: [*value.to_messages(), HumanMessage("extra")])
        | llm
    )
    for chain in (sub_chain, behind_lambda, modified):
        _, trace = LangChainProgram(chain).run({"question": "q"})
        assert calls(trace) == [("steps[0]", {"question": "q"})], chain
        assert trace.unattributed_calls == 0


def test_branch_and_fallbacks_attribute_the_path_taken() -> None:
    llm = EchoChatModel()
    branch = RunnableBranch(
        (lambda x: x["question"].startswith("math"), chat("Math.") | llm), chat("Chat.") | llm
    )
    program = LangChainProgram(branch)
    assert [c.module for c in program.run({"question": "math 1+1"})[1]] == ["branches[0].steps[0]"]
    assert [c.module for c in program.run({"question": "hello"})[1]] == ["default.steps[0]"]

    fallback = (chat("Primary.") | FailingChatModel()).with_fallbacks([chat("Backup.") | llm])
    prediction, trace = LangChainProgram(fallback).run({"question": "q"})
    assert [c.module for c in trace] == ["fallbacks[0].steps[0]"]
    assert "Backup." in prediction and trace.unattributed_calls == 0


def test_parallel_branches_are_attributed_separately() -> None:
    llm = EchoChatModel()
    chain = RunnableParallel(a=chat("A.") | llm, b=chat("B.") | llm, c=chat("C.") | llm)
    outputs, trace = LangChainProgram(chain).run({"question": "q"})
    by_module = {c.module: c.outputs["text"] for c in trace}
    assert set(by_module) == {"a.steps[0]", "b.steps[0]", "c.steps[0]"}
    for key in "abc":
        assert by_module[f"{key}.steps[0]"] == outputs[key].content


def test_same_rendered_prompt_in_parallel_pairs_within_own_branch() -> None:
    llm = EchoChatModel()
    chain = RunnableParallel(a=chat("Same.") | llm, b=chat("Same.") | llm)
    _, trace = LangChainProgram(chain).run({"question": "q"})
    assert sorted(c.module for c in trace) == ["a.steps[0]", "b.steps[0]"]


def test_string_prompt_string_llm_and_parsed_outputs() -> None:
    class Answer(BaseModel):
        answer: str

    from langchain_core.output_parsers import PydanticOutputParser

    llm = FakeListChatModel(responses=['{"answer": "42"}'])
    chain = chat("Reply in JSON.") | llm | PydanticOutputParser(pydantic_object=Answer)
    _, trace = LangChainProgram(chain).run({"question": "q"})
    assert trace.calls[0].outputs == {"answer": "42"}
    schema_less = chat("JSON.") | FakeListChatModel(responses=['{"a": 1}']) | JsonOutputParser()
    assert LangChainProgram(schema_less).run({"question": "q"})[1].calls[0].outputs == {
        "text": '{"a": 1}'
    }
    string = PromptTemplate.from_template("Say {word}.") | EchoLLM()
    prediction, trace = LangChainProgram(string).run({"word": "hi"})
    assert prediction == "LLM<Say hi.>"
    assert calls(trace) == [("steps[0]", {"word": "hi"})]


def test_unowned_lm_call_is_counted_and_warned_once() -> None:
    llm = EchoChatModel()

    def build_prompt_at_call_time(text: str) -> Any:
        late = ChatPromptTemplate.from_messages([("human", "Summarize: {text}")])
        return llm.invoke(late.format_messages(text=text))

    chain = chat("Known.") | llm | StrOutputParser() | RunnableLambda(build_prompt_at_call_time)
    program = LangChainProgram(chain)
    with pytest.warns(UnattributedCallWarning, match="belong to no discovered prompt"):
        _, trace = program.run({"question": "q"})
    assert [c.module for c in trace] == ["steps[0]"]
    assert trace.unattributed_calls == 1 and trace.lm_calls == 2
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert program.run({"question": "q"})[1].unattributed_calls == 1


def test_concurrent_runs_on_threads_keep_their_own_traces() -> None:
    program = LangChainProgram(two_stage(EchoChatModel()))
    questions = [f"question number {i}" for i in range(40)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda q: program.run({"question": q}), questions))
    for question, (prediction, trace) in zip(questions, results, strict=True):
        assert len(trace.calls) == 2
        assert all(c.inputs["question"] == question for c in trace)
        assert question in trace.calls[0].outputs["text"]
        assert trace.calls[1].outputs["text"] == prediction


def _check_roots(recorder: TraceRecorder, expected: set[str]) -> None:
    seen = set()
    for root in recorder.roots():
        trace = recorder.trace(root)
        assert len(trace.calls) == 2 and trace.unattributed_calls == 0
        questions = {c.inputs["question"] for c in trace}
        assert len(questions) == 1
        (question,) = questions
        assert question in trace.calls[0].outputs["text"]
        assert question in trace.calls[1].outputs["text"]
        seen.add(question)
    assert seen == expected


def test_shared_recorder_under_batch_and_abatch() -> None:
    chain = two_stage(EchoChatModel())
    program = LangChainProgram(chain)
    infos = program._infos  # the recorder needs module infos; the program builds them
    questions = [f"q{i}" for i in range(20)]

    recorder = TraceRecorder(infos)
    chain.batch(
        [{"question": q} for q in questions],
        config={"callbacks": [recorder], "max_concurrency": 8},
    )
    _check_roots(recorder, set(questions))

    recorder = TraceRecorder(infos)
    asyncio.run(
        chain.abatch([{"question": q} for q in questions], config={"callbacks": [recorder]})
    )
    _check_roots(recorder, set(questions))


def test_model_mapped_over_a_batch_inside_one_run() -> None:
    llm = EchoChatModel()
    prompt = chat("Each.")
    chain = (
        RunnableLambda(lambda d: [{"question": q} for q in d["questions"]]) | (prompt | llm).map()
    )
    _, trace = LangChainProgram(chain).run({"questions": ["x", "y", "z"]})
    pairs = {c.inputs["question"]: c.outputs["text"] for c in trace}
    assert set(pairs) == {"x", "y", "z"}
    for question, text in pairs.items():
        assert text.endswith(f"human: {question}")


def test_async_only_chain_runs_through_ainvoke() -> None:
    llm = EchoChatModel()

    async def fetch(d: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {**d, "context": "async docs"}

    chain = RunnableLambda(fetch) | chat("Async.\n\nContext: {context}") | llm
    program = LangChainProgram(chain)
    assert program.use_async
    prediction, trace = program.run({"question": "q"})
    assert "async docs" in prediction
    assert calls(trace) == [("steps[1]", {"context": "async docs", "question": "q"})]

    async def inside_loop() -> Any:
        return program.run({"question": "q2"})

    prediction, trace = asyncio.run(inside_loop())
    assert calls(trace) == [("steps[1]", {"context": "async docs", "question": "q2"})]


def test_input_key_for_chains_taking_a_single_value() -> None:
    chain = {"question": RunnablePassthrough()} | chat("Single.") | EchoChatModel()
    program = LangChainProgram(chain, input_key="question")
    prediction, trace = program.run({"question": "plain"})
    assert prediction.endswith("human: plain")
    assert calls(trace) == [("steps[1]", {"question": "plain"})]


def test_message_inputs_are_recorded_as_json() -> None:
    from langchain_core.prompts import MessagesPlaceholder

    prompt = ChatPromptTemplate.from_messages(
        [("system", "S."), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    history = [HumanMessage("hi"), AIMessage("hello")]
    _, trace = LangChainProgram(prompt | EchoChatModel()).run({"question": "q", "history": history})
    assert trace.calls[0].inputs["history"] == [
        {"type": "human", "content": "hi"},
        {"type": "ai", "content": "hello"},
    ]


def test_recorder_ignores_prompt_runs_of_other_programs() -> None:
    prompt = chat("Other.")
    value = prompt.invoke({"question": "q"})
    assert isinstance(value, ChatPromptValue)
    recorder = TraceRecorder({})
    (prompt | EchoChatModel()).invoke({"question": "q"}, config={"callbacks": [recorder]})
    assert recorder.trace().calls == () and recorder.trace().unattributed_calls == 1
