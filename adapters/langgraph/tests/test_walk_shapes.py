"""Node shapes the walk must see through: callable objects, class attributes, default arguments."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.func import entrypoint, task
from langgraph.graph import END, START, MessagesState, StateGraph
from lg_graphs import EchoChatModel
from mipro_langchain import NoPromptFoundError, UnattributedCallWarning
from mipro_langgraph import LangGraphProgram

LLM = EchoChatModel()


class QState(TypedDict, total=False):
    question: str
    answer: str


def _prompt(text: str) -> ChatPromptTemplate:
    return ChatPromptTemplate.from_messages([("system", text), ("human", "{question}")])


def _one_node(node: Any, state: Any = QState) -> Any:
    builder = StateGraph(state)
    builder.add_node("n", node)
    builder.add_edge(START, "n")
    builder.add_edge("n", END)
    return builder.compile()


def _modules_and_calls(graph: Any, inputs: dict[str, Any]) -> tuple[list[str], list[str]]:
    program = LangGraphProgram(graph)
    _, trace = program.run(inputs)
    assert trace.unattributed_calls == 0
    return list(program.modules), [c.module for c in trace]


class Assistant:
    """The LangGraph customer-support tutorial's node: a callable object holding its chain."""

    def __init__(self, runnable: Any) -> None:
        self.runnable = runnable

    def __call__(self, state: MessagesState) -> dict[str, Any]:
        return {"messages": self.runnable.invoke(state)}


def test_a_callable_object_node_is_walked_through_its_attributes() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are a helpful support assistant."), ("placeholder", "{messages}")]
    )
    graph = _one_node(Assistant(prompt | LLM), MessagesState)
    modules, calls = _modules_and_calls(graph, {"messages": [("user", "hi")]})
    assert modules == ["n/runnable.steps[0]"]
    assert calls == ["n/runnable.steps[0]"]


class ClassPrompt:
    prompt = _prompt("Class attribute prompt.")

    def node(self, state: QState) -> dict[str, Any]:
        return {"answer": (self.prompt | LLM | StrOutputParser()).invoke(state)}


class SubClassPrompt(ClassPrompt):
    pass


def test_a_bound_methods_class_attributes_are_walked_bases_included() -> None:
    modules, calls = _modules_and_calls(_one_node(ClassPrompt().node), {"question": "Q?"})
    assert modules == calls == ["n/prompt"]
    modules, _ = _modules_and_calls(_one_node(SubClassPrompt().node), {"question": "Q?"})
    assert modules == ["n/prompt"]


DEFAULT_CHAIN = _prompt("Default argument prompt.") | LLM | StrOutputParser()
KW_CHAIN = _prompt("Keyword-only default prompt.") | LLM | StrOutputParser()


def test_chains_passed_as_default_arguments_are_found() -> None:
    def node(state: QState, chain: Any = DEFAULT_CHAIN, *, other: Any = KW_CHAIN) -> Any:
        return {"answer": chain.invoke(state) + other.invoke(state)}

    modules, calls = _modules_and_calls(_one_node(node), {"question": "Q?"})
    assert modules == ["n/chain.steps[0]", "n/other.steps[0]"]
    assert calls == modules


FORMATTED = _prompt("Formatted prompt.")


def test_format_messages_then_invoke_is_found_and_the_warning_says_why_it_is_unattributed() -> None:
    def node(state: QState) -> dict[str, Any]:
        messages = FORMATTED.format_messages(question=state["question"])
        return {"answer": LLM.invoke(messages).content}

    program = LangGraphProgram(_one_node(node))
    assert list(program.modules) == ["n/FORMATTED"]
    with pytest.warns(UnattributedCallWarning) as caught:
        _, trace = program.run({"question": "Q?"})
    assert trace.unattributed_calls == 1 and not trace.calls
    message = str(caught[0].message)
    assert "format_messages" in message and "['n/FORMATTED']" in message
    assert "prompt.invoke(...)" in message


ENTRY_CHAIN = _prompt("Entrypoint prompt.") | LLM | StrOutputParser()
TASK_CHAIN = _prompt("Task prompt.") | LLM | StrOutputParser()


@task
def ask(question: str) -> str:
    return TASK_CHAIN.invoke({"question": question})


def test_functional_api_entrypoint_and_task_prompts_are_found_and_traced() -> None:
    @entrypoint()
    def direct(inputs: dict[str, Any]) -> str:
        return ENTRY_CHAIN.invoke(inputs)

    saver = InMemorySaver()

    @entrypoint(checkpointer=saver)
    def through_task(inputs: dict[str, Any]) -> str:
        return ask(inputs["question"]).result()

    modules, calls = _modules_and_calls(direct, {"question": "Q?"})
    assert modules == calls == ["direct/ENTRY_CHAIN.steps[0]"]
    modules, calls = _modules_and_calls(through_task, {"question": "Q?"})
    assert modules == calls == ["through_task/TASK_CHAIN.steps[0]"]
    assert not saver.storage


def test_no_prompt_error_names_the_functional_api_and_the_fix() -> None:
    @entrypoint()
    def built_each_time(inputs: dict[str, Any]) -> str:
        return (_prompt("Made per call.") | LLM | StrOutputParser()).invoke(inputs)

    with pytest.raises(NoPromptFoundError) as caught:
        LangGraphProgram(built_each_time)
    assert "@entrypoint" in str(caught.value) and "@task" in str(caught.value)
    assert "create it once outside" in str(caught.value)
