"""Rewrite in place: instruction and demos go into the user's prompt objects and come back out."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from langchain_core.load import dumpd, dumps, loads
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import (
    BasePromptTemplate,
    ChatPromptTemplate,
    FewShotChatMessagePromptTemplate,
    FewShotPromptTemplate,
    MessagesPlaceholder,
    PromptTemplate,
)
from langchain_core.prompts.chat import HumanMessagePromptTemplate, SystemMessagePromptTemplate
from lc_test_support import EchoChatModel
from mipro_langchain import LangChainProgram

from mipro_core import Demo, InvalidInputError, ModuleState, ProgramState


def chat(system: str, human: str = "{question}") -> ChatPromptTemplate:
    return ChatPromptTemplate.from_messages([("system", system), ("human", human)])


def only(prompt: BasePromptTemplate[Any]) -> LangChainProgram:
    return LangChainProgram(prompt)


def set_state(program: LangChainProgram, instruction: str, demos: tuple[Demo, ...] = ()) -> None:
    (name,) = program.modules
    program.apply(ProgramState({name: ModuleState(instruction, demos)}))


def template_variables(prompt: ChatPromptTemplate) -> set[str]:
    names: set[str] = set()
    for entry in prompt.messages:
        names.update(getattr(entry, "input_variables", ()))
    return names


def load_prompt(text: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return loads(text, allowed_objects="core")


DEMO = Demo({"question": "What is 2+2?"}, {"text": "4"})


def test_instruction_replaces_system_text_and_braces_stay_literal() -> None:
    prompt = chat("Be helpful.")
    program = only(prompt)
    set_state(program, 'Reply as JSON: {"answer": "..."} and keep {question} literal.')
    messages = prompt.format_messages(question="Why?")
    assert messages[0].content == ('Reply as JSON: {"answer": "..."} and keep {question} literal.')
    assert messages[-1].content == "Why?"
    assert prompt.input_variables == ["question"]
    assert isinstance(prompt.messages[0], SystemMessagePromptTemplate)


def test_variable_paragraphs_of_the_system_message_are_kept() -> None:
    prompt = chat("You are terse.\n\nContext:\n{context}\n\nCite sources.")
    program = only(prompt)
    set_state(program, "You are thorough {and careful}.")
    system = prompt.format_messages(question="q", context="C1")[0].content
    assert system == "You are thorough {and careful}.\n\nContext:\nC1\n\nCite sources."
    assert template_variables(prompt) == {"context", "question"}
    set_state(program, "")
    assert prompt.format_messages(question="q", context="C1")[0].content == (
        "Context:\nC1\n\nCite sources."
    )


def test_instruction_added_when_prompt_has_no_system_message() -> None:
    prompt = ChatPromptTemplate.from_messages([("human", "{question}")])
    program = only(prompt)
    set_state(program, "New {instruction}.")
    messages = prompt.format_messages(question="q")
    assert isinstance(messages[0], SystemMessage)
    assert messages[0].content == "New {instruction}."
    program.restore()
    assert len(prompt.messages) == 1


def test_literal_system_message_is_replaced_by_a_literal() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [SystemMessage("Original {not a var}."), ("human", "{question}")]
    )
    program = only(prompt)
    assert program.modules["prompt"].state.instruction == "Original {not a var}."
    set_state(program, "Replaced {still not}.")
    assert prompt.format_messages(question="q")[0].content == "Replaced {still not}."


def test_demos_are_literal_pairs_before_the_final_user_turn() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer."), MessagesPlaceholder("history"), ("human", "Q: {question}")]
    )
    program = only(prompt)
    tricky = Demo({"question": "What is {x}?", "history": []}, {"text": "Braces {y}"})
    set_state(program, "Answer.", (DEMO, tricky))
    messages = prompt.format_messages(question="live", history=[HumanMessage("earlier")])
    assert [(m.type, m.content) for m in messages] == [
        ("system", "Answer."),
        ("human", "Q: What is 2+2?"),
        ("ai", "4"),
        ("human", "Q: What is {x}?"),
        ("ai", "Braces {y}"),
        ("human", "earlier"),
        ("human", "Q: live"),
    ]
    assert isinstance(prompt.messages[1], HumanMessage)
    assert isinstance(prompt.messages[2], AIMessage)


def test_demo_inputs_not_shown_in_the_user_turn_lead_as_lines() -> None:
    prompt = chat("Answer.\n\nContext: {context}")
    program = only(prompt)
    set_state(program, "Answer.", (Demo({"question": "q1", "context": "c1"}, {"text": "a1"}),))
    messages = prompt.format_messages(question="q", context="c")
    assert messages[1].content == "context: c1\n\nq1"
    assert messages[2].content == "a1"


def test_structured_outputs_render_as_json() -> None:
    prompt = chat("Answer.")
    program = only(prompt)
    set_state(program, "A.", (Demo({"question": "q"}, {"answer": "x", "score": 1}),))
    assert prompt.format_messages(question="q")[2].content == '{"answer": "x", "score": 1}'


def test_existing_few_shot_pairs_are_the_original_demos() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Classify."),
            ("human", "great movie"),
            ("ai", "positive"),
            ("human", "{question}"),
        ]
    )
    program = only(prompt)
    state = program.modules["prompt"].state
    assert state.instruction == "Classify."
    assert [(dict(d.inputs), dict(d.outputs)) for d in state.demos] == [
        ({"question": "great movie"}, {"text": "positive"})
    ]
    set_state(program, "Classify sentiment.", (DEMO,))
    contents = [m.content for m in prompt.format_messages(question="meh")]
    assert contents == ["Classify sentiment.", "What is 2+2?", "4", "meh"]
    set_state(program, "Classify sentiment.", (DEMO, *state.demos))
    contents = [m.content for m in prompt.format_messages(question="meh")]
    assert contents == [
        "Classify sentiment.",
        "What is 2+2?",
        "4",
        "great movie",
        "positive",
        "meh",
    ]


def test_few_shot_chat_template_is_replaced_by_literal_demos_and_restored() -> None:
    few_shot = FewShotChatMessagePromptTemplate(
        examples=[{"input": "hi", "output": "salut"}, {"input": "cat", "output": "chat"}],
        example_prompt=ChatPromptTemplate.from_messages([("human", "{input}"), ("ai", "{output}")]),
    )
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Translate to French."), few_shot, ("human", "{input}")]
    )
    program = only(prompt)
    original = program.modules["prompt"].state
    assert len(original.demos) == 2
    new_demo = Demo({"input": "dog"}, {"text": "chien"})
    set_state(program, "Translate.", (original.demos[1], new_demo))
    contents = [m.content for m in prompt.format_messages(input="bird")]
    assert contents == ["Translate.", "cat", "chat", "dog", "chien", "bird"]
    assert few_shot not in prompt.messages
    loaded = load_prompt(dumps(prompt))  # FewShotChatMessagePromptTemplate is not serializable
    assert [m.content for m in loaded.format_messages(input="bird")] == contents
    program.restore()
    assert prompt.messages[1] is few_shot


def test_string_prompt_preface_and_demo_block() -> None:
    prompt = PromptTemplate.from_template("Answer briefly.\n\nQuestion: {question}\nAnswer:")
    program = only(prompt)
    assert program.modules["prompt"].state.instruction == "Answer briefly."
    set_state(program, "Answer {exactly}.", (DEMO, Demo({"question": "{q}"}, {"text": "{a}"})))
    assert prompt.format(question="live") == (
        "Answer {exactly}.\n\n"
        "Question: What is 2+2?\nAnswer: 4\n\n"
        "Question: {q}\nAnswer: {a}\n\n"
        "Question: live\nAnswer:"
    )
    assert prompt.input_variables == ["question"]
    program.restore()
    assert prompt.template == "Answer briefly.\n\nQuestion: {question}\nAnswer:"


def test_few_shot_string_prompt() -> None:
    prompt = FewShotPromptTemplate(
        examples=[{"q": "1+1", "a": "2"}],
        example_prompt=PromptTemplate.from_template("Q: {q}\nA: {a}"),
        prefix="Do arithmetic.",
        suffix="Q: {q}\nA:",
        input_variables=["q"],
    )
    program = only(prompt)
    original_examples = prompt.examples
    set_state(program, "Compute {carefully}.", (Demo({"q": "2+3"}, {"text": "5"}),))
    assert prompt.format(q="4+4") == "Compute {carefully}.\n\nQ: 2+3\nA: 5\n\nQ: 4+4\nA:"
    program.restore()
    assert prompt.examples is original_examples and prompt.prefix == "Do arithmetic."


@pytest.mark.parametrize("template_format", ["mustache", "jinja2"])
def test_other_template_formats_escape_literally(template_format: str) -> None:
    var = "{{question}}" if template_format == "mustache" else "{{ question }}"
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Be brief."), ("human", var)], template_format=template_format
    )
    program = only(prompt)
    text = "Keep {{this}} and {% raw %} and {x} literal <% %>."
    set_state(program, text, (Demo({"question": "{{d}}"}, {"text": "{{e}}"}),))
    messages = prompt.format_messages(question="live {{q}}")
    assert [m.content for m in messages] == [text, "{{d}}", "{{e}}", "live {{q}}"]


@pytest.mark.parametrize("template_format", ["f-string", "mustache", "jinja2"])
def test_every_format_s_leading_literal_paragraphs_are_the_instruction(
    template_format: str,
) -> None:
    var = {"f-string": "{context}", "mustache": "{{context}}", "jinja2": "{{ context }}"}
    text = f"Answer in one word.\n\nContext: {var[template_format]}"
    string = PromptTemplate.from_template(text, template_format=template_format)
    system = ChatPromptTemplate.from_messages(
        [("system", text), ("human", "Q")], template_format=template_format
    )
    for prompt in (string, system):
        program = only(prompt)
        assert program.modules[next(iter(program.modules))].original_state.instruction == (
            "Answer in one word."
        )
        for instruction in ("First.", "Second."):  # applies never pile up
            set_state(program, instruction, ())
        rendered = prompt.format(context="C")
        assert "Second." in rendered and "First." not in rendered
        assert "Answer in one word." not in rendered and "Context: C" in rendered
        program.restore()
        assert prompt.format(context="C").count("Answer in one word.") == 1


def test_unknown_module_names_are_rejected() -> None:
    program = only(chat("A."))
    with pytest.raises(InvalidInputError, match=r"\['nope'\].*its modules are \['prompt'\]"):
        program.apply(ProgramState({"nope": ModuleState("x")}))


def test_optimized_chat_prompt_survives_dumps_loads() -> None:
    prompt = chat("Answer.\n\nContext: {context}")
    prompt.metadata = {"owner": "me"}
    program = LangChainProgram(prompt | EchoChatModel())
    program.apply(ProgramState({"steps[0]": ModuleState('New {"json"} rule.', (DEMO,))}))
    loaded = load_prompt(dumps(prompt))
    assert loaded.format_messages(question="q", context="c") == prompt.format_messages(
        question="q", context="c"
    )
    assert loaded.metadata == {"owner": "me", "mipro_module": "steps[0]"}
    assert (
        (loaded | EchoChatModel())
        .invoke({"question": "q", "context": "c"})
        .content.startswith('system: New {"json"} rule.')
    )


# --- hypothesis: apply-then-restore is the identity on prompt objects -----------------------

texts = st.text(max_size=40)
field_values = st.text(max_size=20)


def build_prompts() -> list[BasePromptTemplate[Any]]:
    few_shot = FewShotChatMessagePromptTemplate(
        examples=[{"input": "a", "output": "b"}],
        example_prompt=ChatPromptTemplate.from_messages([("human", "{input}"), ("ai", "{output}")]),
    )
    return [
        chat("You are {{careful}}.\n\nContext: {context}"),
        ChatPromptTemplate.from_messages(
            [("system", "S."), few_shot, MessagesPlaceholder("history"), ("human", "{question}")]
        ),
        ChatPromptTemplate.from_messages([("human", "Just {question}")]),
        PromptTemplate.from_template("Preface.\n\nQ: {question} ({context})\nA:"),
        FewShotPromptTemplate(
            examples=[{"question": "1", "a": "2"}],
            example_prompt=PromptTemplate.from_template("Q: {question}\nA: {a}"),
            prefix="Prefix {{x}}.",
            suffix="Q: {question}\nA:",
            input_variables=["question"],
        ),
    ]


def fingerprint(prompt: BasePromptTemplate[Any]) -> Any:
    entries = getattr(prompt, "messages", None)
    ids = [id(e) for e in entries] if entries is not None else None
    return dumpd(prompt), ids, list(prompt.input_variables)


def render(prompt: BasePromptTemplate[Any]) -> str:
    values = {"question": "Q", "context": "C", "history": [HumanMessage("H")]}
    kwargs = {k: v for k, v in values.items() if k in prompt.input_variables}
    return prompt.format_prompt(**kwargs).to_string()


def states_for(signature_inputs: tuple[str, ...]) -> st.SearchStrategy[ModuleState]:
    demo = st.builds(
        Demo,
        st.fixed_dictionaries({k: field_values for k in signature_inputs if k != "history"}),
        st.fixed_dictionaries({"text": field_values}),
    )
    return st.builds(ModuleState, texts, st.lists(demo, max_size=3).map(tuple))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)
@given(data=st.data())
def test_apply_then_restore_is_identity(data: st.DataObject) -> None:
    for prompt in build_prompts():
        program = only(prompt)
        module = program.modules["prompt"]
        before, rendered = fingerprint(prompt), render(prompt)
        variables = set(prompt.input_variables)
        for _ in range(data.draw(st.integers(1, 3))):
            state = data.draw(states_for(module.signature.inputs))
            program.apply(ProgramState({"prompt": state}))
            assert module.state == state
            assert set(prompt.input_variables) == variables
            if isinstance(prompt, ChatPromptTemplate):
                assert template_variables(prompt) == variables - {"history"} | (
                    {"history"} & variables
                )
            text = render(prompt)  # formats without KeyError: braces were escaped
            if state.instruction.strip():
                assert state.instruction in text
            for demo in state.demos:
                assert demo.outputs["text"] in text
        program.restore()
        assert fingerprint(prompt) == before
        assert render(prompt) == rendered


def test_restored_chat_prompt_holds_the_original_entry_objects() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "S."), ("human", "x"), ("ai", "y"), ("human", "{question}")]
    )
    entries = list(prompt.messages)
    messages_list = prompt.messages
    program = only(prompt)
    set_state(program, "T.", (DEMO,))
    assert prompt.messages is messages_list and prompt.messages != entries
    program.restore()
    assert prompt.messages is messages_list
    assert all(a is b for a, b in zip(prompt.messages, entries, strict=True))
    assert isinstance(prompt.messages[3], HumanMessagePromptTemplate)
