"""Write a :class:`~mipro_core.ModuleState` into a LangChain prompt object, in place, and back.

Every rewriter keeps a snapshot of the prompt's original parts. ``apply(state)`` always builds
the new prompt from that snapshot (so applies never accumulate), and applying the original state
puts the original objects back: restore is exact.

Rules (see ``docs/langchain.md``):

* The *instruction* is the leading variable-free paragraphs of the system message (chat) or of
  the template (string prompts). A new instruction replaces them; paragraphs that mention a
  template variable stay verbatim, so the prompt keeps exactly its original variables.
  Optimizer-written text is escaped for the template format, never interpreted.
* *Demos* of a chat prompt are literal ``HumanMessage``/``AIMessage`` pairs placed right after
  the system message (before the conversation and the final user turn); existing few-shot
  entries there are the original demos. A demo whose conversation holds tool calls (an agent's
  step) is a worked example in text (``_worked``): a demo never executes a tool. Demos of a
  string prompt are a rendered block between
  the instruction and the body.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.prompts import (
    BasePromptTemplate,
    ChatPromptTemplate,
    FewShotChatMessagePromptTemplate,
    FewShotPromptTemplate,
    PromptTemplate,
)
from langchain_core.prompts.chat import (
    AIMessagePromptTemplate,
    HumanMessagePromptTemplate,
    MessagesPlaceholder,
    SystemMessagePromptTemplate,
)

from mipro_core import Demo, ModuleState

from . import _templates as tpl
from ._trace import as_messages
from ._worked import has_tool_steps, worked_example


class Rewriter(Protocol):
    """Reads and writes one prompt object's instruction and demos."""

    @property
    def original(self) -> ModuleState: ...

    def apply(self, state: ModuleState) -> None: ...

    def pristine_copy(self) -> BasePromptTemplate[Any]:
        """A new prompt object equal to the original prompt (for a replica); the parts the
        rewriter replaces are the original ones, everything else is shared."""
        ...


def _copy(prompt: BasePromptTemplate[Any], **update: Any) -> BasePromptTemplate[Any]:
    """A shallow copy of ``prompt`` with ``update``; its metadata is a dict of its own."""
    return prompt.model_copy(update={**update, "metadata": dict(prompt.metadata or {})})


def make_rewriter(prompt: BasePromptTemplate[Any]) -> Rewriter | None:
    """The rewriter for ``prompt``, or ``None`` for prompt kinds the adapter cannot rewrite."""
    if isinstance(prompt, ChatPromptTemplate):
        return ChatRewriter(prompt)
    if isinstance(prompt, FewShotPromptTemplate):
        return FewShotStringRewriter(prompt)
    if isinstance(prompt, PromptTemplate):
        return StringRewriter(prompt)
    return None


def to_text(value: Any) -> str:
    """How a demo field value appears in a prompt (JSON for structured values)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def output_text(outputs: Mapping[str, Any]) -> str:
    """The model answer a demo shows: the text, or a JSON object of parsed fields."""
    if set(outputs) == {"text"}:
        return to_text(outputs["text"])
    return json.dumps(dict(outputs), ensure_ascii=False)


SHARED_CONTEXT_CHARS = 80
"""A partial variable longer than this, or spanning lines, is shared context (format
instructions, a JSON schema) that demos leave out; shorter ones (``language="French"``) stay."""


def _demo_partials(*prompts: BasePromptTemplate[Any]) -> dict[str, str]:
    """The partial variables' values for rendering a demo: short ones as they are, shared context
    empty (the final turn shows it once; repeating it in every demo multiplies the prompt)."""
    values: dict[str, str] = {}
    for prompt in prompts:
        for name, value in (prompt.partial_variables or {}).items():
            text = to_text(value() if callable(value) else value)
            shared = len(text) > SHARED_CONTEXT_CHARS or "\n" in text
            values[name] = "" if shared else text
    return values


def _message_text(message: BaseMessage) -> str:
    content = message.content
    return content if isinstance(content, str) else message.text


def _template_of(entry: Any) -> PromptTemplate | None:
    """The single string template inside a message template entry, if it has one."""
    prompt = getattr(entry, "prompt", None)
    return prompt if isinstance(prompt, PromptTemplate) else None


def _is_system(entry: Any) -> bool:
    return isinstance(entry, (SystemMessage, SystemMessagePromptTemplate))


def _is_human(entry: Any) -> bool:
    return isinstance(entry, HumanMessage) or (
        isinstance(entry, HumanMessagePromptTemplate) and _template_of(entry) is not None
    )


def _is_ai(entry: Any) -> bool:
    return isinstance(entry, AIMessage) or (
        isinstance(entry, AIMessagePromptTemplate) and _template_of(entry) is not None
    )


def _fixed_text(entry: Any) -> str | None:
    """The text of a message entry that uses no variables, else ``None``."""
    if isinstance(entry, BaseMessage):
        return _message_text(entry)
    template = _template_of(entry)
    if template is None or template.input_variables:
        return None
    return tpl.literal_text(template.template, template.template_format)


class ChatRewriter:
    """Rewrites a ``ChatPromptTemplate``: system instruction + demo pairs, in ``messages``."""

    def __init__(self, prompt: ChatPromptTemplate) -> None:
        self.prompt = prompt
        self._lock = threading.Lock()
        self._snapshot: list[Any] = list(prompt.messages)
        entries = self._snapshot
        self._system: Any = None
        self._fixed_system: Any = None
        self._tail = ""
        instruction = ""
        start = 0
        if entries and isinstance(entries[0], SystemMessage):
            self._system, start = entries[0], 1
            instruction = _message_text(entries[0])
        elif entries and isinstance(entries[0], SystemMessagePromptTemplate):
            template = _template_of(entries[0])
            if template is not None:
                self._system, start = entries[0], 1
                preface, self._tail = tpl.split_preface(template.template, template.template_format)
                instruction = tpl.literal_text(preface, template.template_format)
        if start == 0 and entries and _is_system(entries[0]):
            # a system message of content blocks (``[{"type": "text", ..., "cache_control":
            # ...}]``): kept first and as it is; a new instruction follows it as a second
            # system message, so the conversation never gets a system message in its middle
            self._fixed_system, start = entries[0], 1
        self._demo_start = start
        self._user_turn = next(
            (
                e
                for e in reversed(entries)
                if isinstance(e, HumanMessagePromptTemplate) and e.input_variables
            ),
            None,
        )
        self._rendered: dict[Demo, list[Any]] = {}
        demos, end = self._read_demos(entries, start)
        self._demo_end = end
        self._original = ModuleState(instruction, tuple(demos))

    @property
    def original(self) -> ModuleState:
        return self._original

    def _demo_input_key(self) -> str:
        template = _template_of(self._user_turn)
        if template is not None and len(template.input_variables) == 1:
            return str(template.input_variables[0])
        return "input"

    def _read_demos(self, entries: Sequence[Any], start: int) -> tuple[list[Demo], int]:
        demos: list[Demo] = []
        i = start
        while i < len(entries):
            entry = entries[i]
            if isinstance(entry, FewShotChatMessagePromptTemplate):
                demos.extend(self._few_shot_demos(entry))
                i += 1
                continue
            if i + 1 < len(entries) and _is_human(entry) and _is_ai(entries[i + 1]):
                human, ai = _fixed_text(entry), _fixed_text(entries[i + 1])
                if human is not None and ai is not None:
                    demo = Demo({self._demo_input_key(): human}, {"text": ai}, source="labeled")
                    self._rendered.setdefault(demo, [entry, entries[i + 1]])
                    demos.append(demo)
                    i += 2
                    continue
            break
        return demos, i

    def _few_shot_demos(self, entry: FewShotChatMessagePromptTemplate) -> list[Demo]:
        if entry.examples is None:
            return []
        example_prompt = entry.example_prompt
        output_vars: set[str] = set()
        if isinstance(example_prompt, ChatPromptTemplate):
            for message in example_prompt.messages:
                template = _template_of(message)
                if isinstance(message, AIMessagePromptTemplate) and template is not None:
                    output_vars.update(template.input_variables)
        demos = []
        for example in entry.examples:
            inputs = {k: v for k, v in example.items() if k not in output_vars}
            outputs = {k: v for k, v in example.items() if k in output_vars}
            if len(outputs) == 1:
                outputs = {"text": next(iter(outputs.values()))}
            demo = Demo(inputs, outputs, source="labeled")
            rendered = example_prompt.format_messages(**example)
            self._rendered.setdefault(demo, [_literal(m) for m in rendered])
            demos.append(demo)
        return demos

    def pristine_copy(self) -> BasePromptTemplate[Any]:
        return _copy(self.prompt, messages=list(self._snapshot))

    def apply(self, state: ModuleState) -> None:
        with self._lock:
            if state == self._original:
                self.prompt.messages[:] = self._snapshot
            else:
                self.prompt.messages[:] = self._build(state)

    def _build(self, state: ModuleState) -> list[Any]:
        entries = self._snapshot
        new: list[Any] = []
        if self._fixed_system is not None:
            new.append(self._fixed_system)
        system = self._system_entry(state.instruction)
        if system is not None:
            new.append(system)
        if state.demos == self._original.demos:
            new.extend(entries[self._demo_start : self._demo_end])
        else:
            for demo in state.demos:
                new.extend(self._render_demo(demo))
        new.extend(entries[self._demo_end :])
        return new

    def _system_entry(self, instruction: str) -> Any:
        original = self._system
        if isinstance(original, SystemMessagePromptTemplate):
            template = _template_of(original)
            assert template is not None
            fmt = template.template_format
            text = tpl.join_paragraphs(tpl.escape(instruction, fmt), self._tail)
            if not text:
                return None
            new_template = template.model_copy(update={"template": text})
            return original.model_copy(update={"prompt": new_template})
        if not instruction:
            return None
        if isinstance(original, SystemMessage):
            return original.model_copy(update={"content": instruction})
        return SystemMessage(content=instruction)

    def _render_demo(self, demo: Demo) -> list[Any]:
        if demo in self._rendered:
            return self._rendered[demo]
        if self._user_turn is None:  # the user turn arrives through a placeholder
            conversation = [
                message
                for name in self._placeholders()
                for message in (as_messages(demo.inputs.get(name)) or [])
            ]
            if conversation and has_tool_steps(conversation):  # an agent's step: text only
                return worked_example(conversation, output_text(demo.outputs))
            if conversation:
                return [*conversation, AIMessage(content=output_text(demo.outputs))]
        return [
            HumanMessage(content=self._user_text(demo.inputs)),
            AIMessage(content=output_text(demo.outputs)),
        ]

    def _placeholders(self) -> list[str]:
        return [e.variable_name for e in self._snapshot if isinstance(e, MessagesPlaceholder)]

    def _user_text(self, inputs: Mapping[str, Any]) -> str:
        """The final user turn rendered with a demo's inputs; unshown inputs lead as lines."""
        template = _template_of(self._user_turn)
        placeholders = set(self._placeholders())
        shown: set[str] = set(template.input_variables) if template is not None else set()
        lines = "\n".join(
            f"{name}: {to_text(value)}"
            for name, value in inputs.items()
            if name not in shown and name not in placeholders
        )
        if template is None:
            return lines
        values: dict[str, str] = _demo_partials(self.prompt, template)
        values.update({k: to_text(v) for k, v in inputs.items()})
        turn = tpl.render(template.template, template.template_format, values)
        return tpl.join_paragraphs(lines, turn)


def _literal(message: BaseMessage) -> BaseMessage:
    if isinstance(message, (HumanMessage, AIMessage, SystemMessage)):
        return message
    return HumanMessage(content=_message_text(message))


class StringRewriter:
    """Rewrites a ``PromptTemplate``: instruction preface + rendered demo block, in ``template``."""

    def __init__(self, prompt: PromptTemplate) -> None:
        self.prompt = prompt
        self._lock = threading.Lock()
        self._template = prompt.template
        self._format = prompt.template_format
        preface, self._body = tpl.split_preface(self._template, self._format)
        self._original = ModuleState(tpl.literal_text(preface, self._format), ())

    @property
    def original(self) -> ModuleState:
        return self._original

    def pristine_copy(self) -> BasePromptTemplate[Any]:
        return _copy(self.prompt, template=self._template)

    def apply(self, state: ModuleState) -> None:
        with self._lock:
            if state == self._original:
                self.prompt.template = self._template
                return
            block = "\n\n".join(self._render_demo(d) for d in state.demos)
            self.prompt.template = tpl.join_paragraphs(
                tpl.escape(state.instruction, self._format),
                tpl.escape(block, self._format),
                self._body,
            )

    def _render_demo(self, demo: Demo) -> str:
        values = {**_demo_partials(self.prompt), **{k: to_text(v) for k, v in demo.inputs.items()}}
        shown = tpl.render(self._body, self._format, values).rstrip()
        answer = output_text(demo.outputs)
        return f"{shown} {answer}" if shown.endswith(":") else f"{shown}\n{answer}"


class FewShotStringRewriter:
    """Rewrites a ``FewShotPromptTemplate``: instruction in ``prefix``, demos as ``examples``."""

    def __init__(self, prompt: FewShotPromptTemplate) -> None:
        self.prompt = prompt
        self._lock = threading.Lock()
        self._prefix = prompt.prefix
        self._examples = prompt.examples
        self._selector = prompt.example_selector
        self._format = prompt.template_format
        preface, self._prefix_body = tpl.split_preface(self._prefix, self._format)
        example_template = prompt.example_prompt
        self._output_key = _last_variable(example_template)
        demos = [self._demo_of(e) for e in (self._examples or [])]
        self._original = ModuleState(tpl.literal_text(preface, self._format), tuple(demos))

    @property
    def original(self) -> ModuleState:
        return self._original

    def _demo_of(self, example: Mapping[str, Any]) -> Demo:
        key = self._output_key
        inputs = {k: v for k, v in example.items() if k != key}
        answer = example.get(key, "") if key is not None else ""
        return Demo(inputs, {"text": answer}, source="labeled")

    def _example_of(self, demo: Demo) -> dict[str, str]:
        """An example dict for ``example_prompt``: demo inputs, answer slot, blanks for the rest."""
        template = self.prompt.example_prompt
        values: dict[str, str] = dict.fromkeys(
            tpl.variables(template.template, template.template_format), ""
        )
        values.update({k: to_text(v) for k, v in self._example_inputs(demo, set(values)).items()})
        if self._output_key is not None:
            values[self._output_key] = output_text(demo.outputs)
        # FewShotPromptTemplate formats the joined text once more: escape the values for that.
        return {k: tpl.escape(v, self._format) for k, v in values.items()}

    def _example_inputs(self, demo: Demo, slots: set[str]) -> Mapping[str, Any]:
        """A demo's inputs under the example prompt's names.

        Demos traced from runs are keyed by the suffix's variables (``Question: {input}``),
        which the example prompt may call differently (``Question: {question}``): with one
        unmatched name on each side, that input fills that slot.
        """
        slots = slots - {self._output_key}
        unknown = [k for k in demo.inputs if k not in slots]
        empty = [k for k in sorted(slots) if k not in demo.inputs]
        if len(unknown) == 1 and len(empty) == 1:
            inputs = {k: v for k, v in demo.inputs.items() if k != unknown[0]}
            return {**inputs, empty[0]: demo.inputs[unknown[0]]}
        return demo.inputs

    def pristine_copy(self) -> BasePromptTemplate[Any]:
        return _copy(
            self.prompt,
            prefix=self._prefix,
            examples=self._examples,
            example_selector=self._selector,
        )

    def apply(self, state: ModuleState) -> None:
        with self._lock:
            if state == self._original:
                self.prompt.prefix = self._prefix
                self.prompt.examples = self._examples
                self.prompt.example_selector = self._selector
                return
            self.prompt.prefix = tpl.join_paragraphs(
                tpl.escape(state.instruction, self._format), self._prefix_body
            )
            self.prompt.examples = [self._example_of(d) for d in state.demos]
            self.prompt.example_selector = None


def _last_variable(template: PromptTemplate) -> str | None:
    """The variable that appears last in ``template`` (the answer slot of an example)."""
    names = tpl.variables(template.template, template.template_format)
    if not names:
        return None
    return max(names, key=lambda n: template.template.rfind(n))
