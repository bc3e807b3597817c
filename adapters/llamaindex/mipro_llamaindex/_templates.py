"""Reading and rewriting LlamaIndex prompt templates (pure functions, no pipeline knowledge).

A module's state becomes a *preface* (instruction, then a block of worked examples) written in
front of the original template text. For a :class:`SelectorPromptTemplate` every branch (the
completion default and each chat conditional) is rewritten, so chat and completion models both
see the new prompt. For a :class:`ChatPromptTemplate` the preface opens the first system
message (a system message is added when there is none).

LlamaIndex formats templates with a brace-tolerant formatter that has no escape syntax: any
``{name}`` in the text is a template variable. Optimizer text is therefore *escaped* by turning
``{name}`` into ``{ name }``, which the formatter leaves alone and which is not counted as a
variable, so a rewritten template has exactly the variables of the original.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock
from llama_index.core.prompts import (
    BasePromptTemplate,
    ChatPromptTemplate,
    PromptTemplate,
    SelectorPromptTemplate,
)

from mipro_core import Demo, ModuleState, Signature

MODULE_KEY = "mipro_module"
"""Metadata key naming the module a rewritten template belongs to (it survives partial copies)."""

_VARIABLE = re.compile(r"\{([A-Za-z_][^{}]*)\}")

_OUTPUT_FIELDS = {
    "text_qa": "answer",
    "refine": "answer",
    "summary": "answer",
    "single_select": "selection",
    "multi_select": "selection",
    "sub_question": "sub_questions",
}


def escape(text: str) -> str:
    """Make ``text`` inert inside a LlamaIndex template: ``{name}`` becomes ``{ name }``."""
    return _VARIABLE.sub(lambda m: "{ " + m.group(1) + " }", text)


def branches(template: BasePromptTemplate) -> list[BasePromptTemplate]:
    """The concrete templates a selector may pick (default first), or ``[template]``."""
    if isinstance(template, SelectorPromptTemplate):
        return [template.default_template, *(t for _, t in template.conditionals or ())]
    return [template]


def is_rewritable(template: object) -> bool:
    """Whether the adapter knows how to rewrite ``template`` (plain, chat, or a selector of those)."""
    if not isinstance(template, BasePromptTemplate):
        return False
    return all(isinstance(b, (PromptTemplate, ChatPromptTemplate)) for b in branches(template))


def text_of(template: BasePromptTemplate) -> str:
    """The raw text of one concrete template (chat messages as ``role: content`` lines)."""
    if isinstance(template, SelectorPromptTemplate):
        return text_of(template.default_template)
    if isinstance(template, PromptTemplate):
        return template.template
    if isinstance(template, ChatPromptTemplate):
        return "\n".join(f"{m.role.value}: {m.content or ''}" for m in template.message_templates)
    return ""


def branch_texts(template: BasePromptTemplate) -> frozenset[str]:
    """The texts of every branch; two templates with a common branch text are the same prompt."""
    return frozenset(text_of(b) for b in branches(template))


def first_message_text(template: BasePromptTemplate) -> str | None:
    """The text of the first message of a chat template (how chat engines embed their prompts)."""
    if isinstance(template, ChatPromptTemplate) and template.message_templates:
        return template.message_templates[0].content or ""
    return None


def module_tag(template: BasePromptTemplate) -> str | None:
    """The module name a rewritten template carries in its metadata, if any."""
    value = (template.metadata or {}).get(MODULE_KEY)
    return value if isinstance(value, str) else None


def unbound_variables(template: BasePromptTemplate) -> tuple[str, ...]:
    """Variables the caller must supply: template variables minus partials and function mappings."""
    default = branches(template)[0]
    bound = set(default.kwargs or {}) | set(default.function_mappings or {})
    seen: list[str] = []
    for name in default.template_vars:
        if name not in bound and name not in seen:
            seen.append(name)
    return tuple(seen)


def output_field(template: BasePromptTemplate) -> str:
    """The name of the output field, from the template's ``prompt_type``."""
    prompt_type = (branches(template)[0].metadata or {}).get("prompt_type")
    key = getattr(prompt_type, "value", prompt_type)
    return _OUTPUT_FIELDS.get(str(key), "answer" if key is None else "output")


def signature_of(
    template: BasePromptTemplate, extra_inputs: Sequence[str] = (), output: str | None = None
) -> Signature:
    """The module signature of a template: its unbound variables -> one output field."""
    inputs = list(unbound_variables(template))
    inputs.extend(name for name in extra_inputs if name not in inputs)
    return Signature(inputs=tuple(inputs), outputs=(output or output_field(template),))


DEMO_INPUT_CHARS = 1500
"""A demo input longer than this (a RAG context of several retrieved chunks) is cut, with a
marker: a demo shows the pattern, and four full contexts can overflow the model's window (the
prompt helper then fails every run that uses the demo set)."""


def _shortened(value: object) -> str:
    text = str(value)
    if len(text) <= DEMO_INPUT_CHARS:
        return text
    return text[:DEMO_INPUT_CHARS].rstrip() + " [... cut for this example]"


def render_demo(demo: Demo, signature: Signature) -> str:
    """One demo as ``field: value`` lines, inputs then outputs, in signature order (long inputs
    cut to :data:`DEMO_INPUT_CHARS`)."""
    lines = []
    for field in signature.inputs:
        if field in demo.inputs:
            lines.append(f"{field}: {_shortened(demo.inputs[field])}")
    for field in signature.outputs:
        if field in demo.outputs:
            lines.append(f"{field}: {demo.outputs[field]}")
    return "\n".join(lines)


def render_preface(state: ModuleState, signature: Signature) -> str:
    """The text written before the original template for ``state`` (unescaped)."""
    parts = []
    if state.instruction.strip():
        parts.append(state.instruction.strip())
    if state.demos:
        examples = [
            f"Example {i}:\n{render_demo(demo, signature)}" for i, demo in enumerate(state.demos, 1)
        ]
        parts.append("Examples:\n\n" + "\n\n".join(examples))
    return "\n\n".join(parts)


def rewrite(base: BasePromptTemplate, preface: str, module: str) -> BasePromptTemplate:
    """A new template: ``preface`` (escaped) in front of every branch of ``base``, tagged ``module``.

    ``base`` is never mutated. Output parsers, partials, function and variable mappings, and the
    template variables are preserved exactly.
    """
    text = escape(preface)
    if isinstance(base, SelectorPromptTemplate):
        default = _rewrite_plain(base.default_template, text, module)
        conditionals = [
            (predicate, _rewrite_plain(t, text, module)) for predicate, t in base.conditionals or ()
        ]
        selector = SelectorPromptTemplate(default_template=default, conditionals=conditionals)
        selector.output_parser = base.output_parser
        selector.metadata = _tagged(base.metadata, module)
        return selector
    return _rewrite_plain(base, text, module)


def _tagged(metadata: Mapping[str, Any] | None, module: str) -> dict[str, Any]:
    return {**(metadata or {}), MODULE_KEY: module}


def _rewrite_plain(template: BasePromptTemplate, text: str, module: str) -> BasePromptTemplate:
    common = {
        "metadata": _tagged(template.metadata, module),
        "kwargs": dict(template.kwargs or {}),
    }
    if isinstance(template, PromptTemplate):
        new_text = f"{text}\n\n{template.template}" if text else template.template
        return template.model_copy(
            update={**common, "template": new_text, "template_vars": list(template.template_vars)}
        )
    if isinstance(template, ChatPromptTemplate):
        messages = _prefixed_messages(list(template.message_templates), text)
        return template.model_copy(
            update={
                **common,
                "message_templates": messages,
                "template_vars": list(template.template_vars),
            }
        )
    raise TypeError(f"cannot rewrite a {type(template).__name__}")


def _prefixed_messages(messages: list[ChatMessage], text: str) -> list[ChatMessage]:
    if not text:
        return messages
    for i, message in enumerate(messages):
        if message.role == MessageRole.SYSTEM:
            blocks = list(message.blocks)
            if blocks and isinstance(blocks[0], TextBlock):
                blocks[0] = TextBlock(text=f"{text}\n\n{blocks[0].text}")
            else:
                blocks.insert(0, TextBlock(text=text))
            return [
                *messages[:i],
                message.model_copy(update={"blocks": blocks}),
                *messages[i + 1 :],
            ]
    return [ChatMessage(role=MessageRole.SYSTEM, content=text), *messages]
