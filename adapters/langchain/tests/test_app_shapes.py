"""App shapes from LangChain's own docs that the adapter must trace, rewrite and run correctly:
retries and fallbacks, tool-calling structured output, few-shot string prompts, chatbots whose
user turn arrives through a placeholder, partial variables, run configs, async real clients."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun, CallbackManagerForRetrieverRun
from langchain_core.chat_history import InMemoryChatMessageHistory
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser, StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import (
    ChatPromptTemplate,
    FewShotPromptTemplate,
    MessagesPlaceholder,
    PromptTemplate,
)
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_core.utils.function_calling import convert_to_openai_tool
from lc_test_support import EchoChatModel, FailingChatModel, TextChatModel
from mipro_langchain import LangChainLM, LangChainProgram, NoPromptFoundError
from pydantic import BaseModel

import mipro_core
from mipro_core import Demo, InvalidInputError, ModuleState, ParseError, ProgramState


class Answer(BaseModel):
    answer: str


def chat(system: str, human: str = "{question}") -> ChatPromptTemplate:
    return ChatPromptTemplate.from_messages([("system", system), ("human", human)])


class FlakyChatModel(TextChatModel):
    """Fails its odd-numbered calls (a transient 429), answers ``ok`` on the others."""

    calls: int = 0

    def answer(self, messages: list[BaseMessage], stop: list[str] | None) -> str:
        self.calls += 1
        if self.calls % 2:
            raise RuntimeError("429 too many requests")
        return "ok"


class ToolCallingChatModel(BaseChatModel):
    """Answers through a tool call when tools are bound (as providers do for structured output)."""

    @property
    def _llm_type(self) -> str:
        return "tool-calling"

    def bind_tools(self, tools: Any, *, tool_choice: Any = None, **kwargs: Any) -> Any:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        tools: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = f"answer to {messages[-1].content}"
        if not tools:
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])
        call = {"name": tools[0]["function"]["name"], "args": {"answer": text}, "id": "call-1"}
        message = AIMessage(content="", tool_calls=[call])
        return ChatResult(generations=[ChatGeneration(message=message)])


class FactsRetriever(BaseRetriever):
    """A retriever (its input type is ``str``) returning one document about the query."""

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [Document(page_content=f"facts about {query}")]


class TemperatureRecorder(TextChatModel):
    """Answers with the temperature it was configured with."""

    temperature: float = 0.0

    def answer(self, messages: list[BaseMessage], stop: list[str] | None) -> str:
        return f"t={self.temperature} stop={stop}"


def test_a_retried_model_call_is_attributed_to_its_prompt() -> None:
    model = FlakyChatModel()
    retried = model.with_retry(stop_after_attempt=3, wait_exponential_jitter=False)
    program = LangChainProgram(chat("Answer.") | retried | StrOutputParser())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "unattributed call" warning
        output, trace = program.run({"question": "q?"})
    assert output == "ok"
    assert model.calls == 2  # the first attempt failed
    assert [(c.module, dict(c.outputs)) for c in trace.calls] == [("steps[0]", {"text": "ok"})]
    assert trace.unattributed_calls == 0


def test_a_model_fallback_call_is_attributed_and_its_parser_linked() -> None:
    model = FailingChatModel().with_fallbacks([EchoChatModel()])
    parsed = LangChainProgram(
        chat("Answer.") | model | PydanticOutputParser(pydantic_object=Answer)
    )
    assert [m.signature.outputs for m in parsed.modules.values()] == [("answer",)]
    program = LangChainProgram(chat("Answer.") | model | StrOutputParser())
    _, trace = program.run({"question": "q?"})
    assert [c.module for c in trace.calls] == ["steps[0]"]
    assert trace.unattributed_calls == 0


def test_structured_output_through_tool_calls_records_the_parsed_fields() -> None:
    prompt = chat("Answer the question.")
    program = LangChainProgram(prompt | ToolCallingChatModel().with_structured_output(Answer))
    (name,) = program.modules
    assert program.modules[name].signature.outputs == ("answer",)
    output, trace = program.run({"question": "q1"})
    assert output == Answer(answer="answer to q1")
    assert [dict(c.outputs) for c in trace.calls] == [{"answer": "answer to q1"}]
    call = trace.calls[0]
    program.apply(ProgramState({name: ModuleState("Answer.", (Demo(call.inputs, call.outputs),))}))
    shown = [(m.type, m.content) for m in prompt.format_messages(question="q2")]
    assert shown == [
        ("system", "Answer."),
        ("human", "q1"),
        ("ai", '{"answer": "answer to q1"}'),
        ("human", "q2"),
    ]


def test_few_shot_string_demos_fill_the_example_prompt_s_own_input_slot() -> None:
    example = PromptTemplate.from_template("Question: {question}\nAnswer: {answer}")
    prompt = FewShotPromptTemplate(
        examples=[{"question": "Who?", "answer": "Ann"}],
        example_prompt=example,
        prefix="Answer the quiz question.",
        suffix="Question: {input}\nAnswer:",
        input_variables=["input"],
    )
    program = LangChainProgram(prompt | EchoChatModel() | StrOutputParser())
    (name,) = program.modules
    traced = Demo({"input": "Where?"}, {"text": "Paris"})
    program.apply(ProgramState({name: ModuleState("Answer the quiz question.", (traced,))}))
    assert prompt.format(input="NEW") == (
        "Answer the quiz question.\n\nQuestion: Where?\nAnswer: Paris\n\nQuestion: NEW\nAnswer:"
    )


@pytest.mark.parametrize(
    "conversation",
    [
        [{"role": "user", "content": "Who wrote it?"}],
        [("human", "Who wrote it?")],
        [HumanMessage(content="Who wrote it?")],
    ],
)
def test_a_chatbot_whose_user_turn_is_a_placeholder_gets_real_demos(conversation: Any) -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer briefly."), MessagesPlaceholder("messages")]
    )
    program = LangChainProgram(prompt | EchoChatModel(prefix="A: ") | StrOutputParser())
    (name,) = program.modules
    _, trace = program.run({"messages": conversation})
    call = trace.calls[0]
    assert call.inputs == {"messages": [{"type": "human", "content": "Who wrote it?"}]}
    program.apply(
        ProgramState({name: ModuleState("Be brief.", (Demo(call.inputs, call.outputs),))})
    )
    shown = [(m.type, m.content) for m in prompt.format_messages(messages=[("human", "Next?")])]
    assert shown[:3] == [
        ("system", "Be brief."),
        ("human", "Who wrote it?"),
        ("ai", call.outputs["text"]),
    ]
    assert shown[3] == ("human", "Next?")


def test_partial_variables_are_not_repeated_in_every_demo() -> None:
    schema = "Reply as JSON with the key 'answer'. " * 20
    chat_prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer."), ("human", "{format_instructions}\n{question}")]
    ).partial(format_instructions=schema)
    string_prompt = PromptTemplate(
        template="{format_instructions}\nQ: {question}\nA:",
        input_variables=["question"],
        partial_variables={"format_instructions": schema},
    )
    demos = (Demo({"question": "Who?"}, {"text": "Ann"}), Demo({"question": "Why?"}, {"text": "B"}))
    for prompt in (chat_prompt, string_prompt):
        program = LangChainProgram(prompt | EchoChatModel() | StrOutputParser())
        (name,) = program.modules
        program.apply(ProgramState({name: ModuleState("Answer.", demos)}))
        rendered = prompt.format(question="NEW")
        assert rendered.count(schema) == 1
        assert "Who?" in rendered and "Ann" in rendered


def test_short_partial_variables_stay_in_demos() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Translate."), ("human", "Into {language}: {text}")]
    ).partial(language="French")
    program = LangChainProgram(prompt | EchoChatModel() | StrOutputParser())
    (name,) = program.modules
    demo = Demo({"text": "hello"}, {"text": "bonjour"})
    program.apply(ProgramState({name: ModuleState("Translate.", (demo,))}))
    shown = [(m.type, m.content) for m in prompt.format_messages(text="cat")]
    assert shown[1] == ("human", "Into French: hello")


def test_a_bound_proposer_model_gets_the_requested_temperature() -> None:
    model = TemperatureRecorder()
    lm = LangChainLM(model.bind(stop=["###"]).with_config(tags=["proposer"]))
    assert lm([{"role": "user", "content": "hi"}], temperature=0.7) == ["t=0.7 stop=['###']"]
    assert model.temperature == 0.0  # the user's model is untouched


def test_a_run_config_reaches_every_run() -> None:
    histories: dict[str, InMemoryChatMessageHistory] = {}
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer."), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    app = RunnableWithMessageHistory(
        prompt | EchoChatModel() | StrOutputParser(),
        lambda session: histories.setdefault(session, InMemoryChatMessageHistory()),
        input_messages_key="question",
        history_messages_key="history",
    )
    with pytest.raises(ValueError, match="session_id"):
        LangChainProgram(app).run({"question": "q?"})
    program = LangChainProgram(app, config={"configurable": {"session_id": "s1"}})
    _, trace = program.run({"question": "q?"})
    assert len(trace.calls) == 1
    assert list(histories) == ["s1"]


def test_a_bare_model_is_rejected_with_a_clear_error() -> None:
    with pytest.raises(NoPromptFoundError, match="is a model, not a chain"):
        mipro_core.optimize(EchoChatModel(), [], lambda ex, pred, trace=None: 0.0)


def test_async_runs_share_one_long_lived_event_loop() -> None:
    """Real async clients bind to the first loop they run on: every run, of every program,
    must use the same loop, and that loop must stay open between runs."""
    loops: list[asyncio.AbstractEventLoop] = []
    inner = chat("Answer.") | EchoChatModel() | StrOutputParser()

    async def answer(inputs: dict[str, Any]) -> str:
        loops.append(asyncio.get_running_loop())
        return await inner.ainvoke(inputs)

    chain = RunnableLambda(answer)
    first, second = LangChainProgram(chain), LangChainProgram(chain)
    assert first.use_async
    for program in (first, first, second):
        output, trace = program.run({"question": "q?"})
        assert output.endswith("human: q?") and len(trace.calls) == 1
    assert len(loops) == 3 and len(set(map(id, loops))) == 1
    assert not loops[0].is_closed()


def test_a_chain_taking_a_string_gets_the_example_s_only_input() -> None:
    prompt = chat("Answer from the context.", "Context: {context}\nQuestion: {question}")
    context = FactsRetriever() | RunnableLambda(lambda docs: docs[0].page_content)
    chain = (
        {"context": context, "question": RunnablePassthrough()}
        | prompt
        | EchoChatModel()
        | StrOutputParser()
    )
    program = LangChainProgram(chain)
    output, trace = program.run({"question": "Paris?"})
    assert "Context: facts about Paris?\nQuestion: Paris?" in output
    assert dict(trace.calls[0].inputs) == {"context": "facts about Paris?", "question": "Paris?"}
    with pytest.raises(InvalidInputError, match="input_key"):
        program.run({"question": "Paris?", "lang": "en"})


def test_an_answer_the_parser_rejects_is_a_malformed_run_not_an_error() -> None:
    """With a JSON parser, candidates that lose the JSON format must score 0, not end the run
    through the error budget."""
    chain = chat("Answer.") | EchoChatModel() | JsonOutputParser()  # echo text is never JSON
    program = LangChainProgram(chain)
    with pytest.raises(ParseError, match="output parser"):
        program.run({"question": "q?"})
    data = [mipro_core.Example({"question": f"q{i}?"}, {"answer": "a"}) for i in range(12)]
    result = mipro_core.optimize(
        chain, data, lambda ex, pred, trace=None: 0.0, max_trials=2, max_errors=0, progress=False
    )
    assert result.malformed > 0 and result.errors == 0


def test_an_optional_placeholder_is_an_input() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Be brief."), ("placeholder", "{messages}")]
    )
    program = LangChainProgram(prompt | EchoChatModel() | StrOutputParser())
    (module,) = program.modules.values()
    assert module.signature.inputs == ("messages",)
    _, trace = program.run({"messages": [("human", "Who?")]})
    assert dict(trace.calls[0].inputs) == {"messages": [{"type": "human", "content": "Who?"}]}


def test_two_models_and_no_proposer_fail_before_any_call_or_journal(tmp_path: Any) -> None:
    first, second = EchoChatModel(), EchoChatModel(prefix="2: ")
    chain = chat("Draft.") | first | StrOutputParser() | (lambda t: {"question": t})
    chain = chain | chat("Polish.") | second | StrOutputParser()
    data = [mipro_core.Example({"question": f"q{i}?"}, {"answer": "a"}) for i in range(8)]
    journal = tmp_path / "run.sqlite"
    with pytest.raises(InvalidInputError, match="--proposer"):
        mipro_core.optimize(chain, data, lambda ex, pred, trace=None: 0.0, journal=journal)
    assert not journal.exists()


def test_a_system_message_of_content_blocks_stays_first() -> None:
    """The prompt-caching style: the conversation must never get a system message mid-way."""
    block = {"type": "text", "text": "Answer.", "cache_control": {"type": "ephemeral"}}
    prompt = ChatPromptTemplate.from_messages([("system", [block]), ("human", "{question}")])
    program = LangChainProgram(prompt | EchoChatModel() | StrOutputParser())
    (name,) = program.modules
    demo = Demo({"question": "Q1"}, {"text": "A1"})
    program.apply(ProgramState({name: ModuleState("Be brief.", (demo,))}))
    types = [m.type for m in prompt.format_messages(question="Q2")]
    assert types == ["system", "system", "human", "ai", "human"]
    program.restore()
    assert [m.type for m in prompt.format_messages(question="Q2")] == ["system", "human"]
