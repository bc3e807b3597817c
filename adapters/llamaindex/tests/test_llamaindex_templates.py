"""Template rewriting: escaping, variables preserved, selectors, chat templates (pure functions)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.prompts import ChatPromptTemplate, PromptTemplate, SelectorPromptTemplate
from llama_index.core.prompts.default_prompt_selectors import DEFAULT_TEXT_QA_PROMPT_SEL
from llama_index.core.prompts.default_prompts import DEFAULT_TEXT_QA_PROMPT_TMPL
from llama_index.core.prompts.utils import get_template_vars
from mipro_llamaindex._templates import (
    MODULE_KEY,
    escape,
    render_preface,
    rewrite,
    signature_of,
    text_of,
)

from mipro_core import Demo, ModuleState, Signature

QA_SIG = Signature(inputs=("context_str", "query_str"), outputs=("answer",))
text = st.lists(
    st.sampled_from([*"ab {}_x\n:.é日", "{query_str}", "{context_str}", "{{", "}}", "{a.b}"]),
    max_size=12,
).map("".join)


def test_preface_renders_instruction_then_examples() -> None:
    state = ModuleState(
        "Answer in one word.",
        (
            Demo(
                {"context_str": "Paris is in France.", "query_str": "Where?"}, {"answer": "France"}
            ),
        ),
    )
    assert render_preface(state, QA_SIG) == (
        "Answer in one word.\n\nExamples:\n\nExample 1:\ncontext_str: Paris is in France.\n"
        "query_str: Where?\nanswer: France"
    )


def test_escape_neutralises_variables_only() -> None:
    assert escape("use {query_str} and {x.y}") == "use { query_str } and { x.y }"
    assert escape('JSON {"a": 1} and {1}') == 'JSON {"a": 1} and {1}'
    assert get_template_vars(escape("{a} {b_c} {{d}}")) == []


def test_rewrite_plain_template_keeps_variables_parser_and_partials() -> None:
    base = PromptTemplate("Q: {query_str} C: {context_str}", prompt_type="text_qa", tone="dry")
    new = rewrite(base, "Say {query_str} twice.", "m")
    assert new.template == "Say { query_str } twice.\n\nQ: {query_str} C: {context_str}"
    assert new.template_vars == base.template_vars
    assert new.kwargs == {"tone": "dry"} and new.kwargs is not base.kwargs
    assert new.metadata[MODULE_KEY] == "m" and MODULE_KEY not in base.metadata
    assert new.format(query_str="q", context_str="c") == "Say { query_str } twice.\n\nQ: q C: c"
    assert base.template == "Q: {query_str} C: {context_str}"  # never mutated


def test_rewrite_selector_rewrites_every_branch() -> None:
    new = rewrite(DEFAULT_TEXT_QA_PROMPT_SEL, "Be brief.", "qa")
    assert isinstance(new, SelectorPromptTemplate)
    assert new.default_template.template == "Be brief.\n\n" + DEFAULT_TEXT_QA_PROMPT_TMPL
    [(predicate, chat)] = new.conditionals
    assert predicate is DEFAULT_TEXT_QA_PROMPT_SEL.conditionals[0][0]
    assert isinstance(chat, ChatPromptTemplate)
    system = chat.message_templates[0]
    original_system = DEFAULT_TEXT_QA_PROMPT_SEL.conditionals[0][1].message_templates[0]
    assert system.content == "Be brief.\n\n" + original_system.content
    assert chat.message_templates[1].content == (
        DEFAULT_TEXT_QA_PROMPT_SEL.conditionals[0][1].message_templates[1].content
    )
    for template in (new, new.default_template, chat):
        assert template.metadata[MODULE_KEY] == "qa"
    assert MODULE_KEY not in DEFAULT_TEXT_QA_PROMPT_SEL.metadata


def test_rewrite_chat_template_without_system_message_adds_one() -> None:
    base = ChatPromptTemplate([ChatMessage(role=MessageRole.USER, content="Hi {name}")])
    new = rewrite(base, "Greet warmly.", "greet")
    assert isinstance(new, ChatPromptTemplate)
    assert [(m.role, m.content) for m in new.message_templates] == [
        (MessageRole.SYSTEM, "Greet warmly."),
        (MessageRole.USER, "Hi {name}"),
    ]
    assert new.format_messages(name="Ann")[1].content == "Hi Ann"


def test_signature_from_unbound_variables() -> None:
    assert signature_of(DEFAULT_TEXT_QA_PROMPT_SEL) == QA_SIG
    partial = PromptTemplate("{a} {b} {c}", prompt_type="custom").partial_format(a="1")
    assert signature_of(partial, ("query_str",)).inputs == ("b", "c", "query_str")
    assert signature_of(partial).outputs == ("output",)


@settings(max_examples=60, deadline=None)
@given(instruction=text, question=text, answer=text, context=text)
def test_rewritten_template_has_exactly_the_original_variables(
    instruction: str, question: str, answer: str, context: str
) -> None:
    state = ModuleState(
        instruction, (Demo({"context_str": context, "query_str": question}, {"answer": answer}),)
    )
    preface = render_preface(state, QA_SIG)
    new = rewrite(DEFAULT_TEXT_QA_PROMPT_SEL, preface, "qa")
    default = new.default_template
    assert get_template_vars(default.template) == DEFAULT_TEXT_QA_PROMPT_SEL.template_vars
    chat = new.conditionals[0][1]
    assert [v for m in chat.message_templates for v in m.get_template_vars()] == (
        DEFAULT_TEXT_QA_PROMPT_SEL.conditionals[0][1].template_vars
    )
    # Formatting substitutes the live values and leaves the optimizer's text inert.
    rendered = default.format(context_str="CTX", query_str="QRY")
    original = DEFAULT_TEXT_QA_PROMPT_SEL.default_template.format(
        context_str="CTX", query_str="QRY"
    )
    expected_preface = escape(preface)
    assert rendered == (f"{expected_preface}\n\n{original}" if expected_preface else original)
    assert text_of(DEFAULT_TEXT_QA_PROMPT_SEL) == DEFAULT_TEXT_QA_PROMPT_TMPL
