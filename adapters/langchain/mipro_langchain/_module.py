"""``LangChainModule``: one prompt template of a chain, a mipro :class:`~mipro_core.Module`."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from langchain_core.output_parsers import BaseOutputParser, JsonOutputParser, StrOutputParser
from langchain_core.output_parsers.openai_tools import PydanticToolsParser
from langchain_core.prompts import BasePromptTemplate

from mipro_core import InvalidInputError, MiproError, ModuleState, Signature

from ._discover import FoundPrompt
from ._rewrite import Rewriter, make_rewriter
from ._templates import pretty_text

logger = logging.getLogger("mipro_langchain")


class LangChainModule:
    """One prompt template of the chain: a mipro :class:`~mipro_core.Module`."""

    def __init__(self, name: str, found: FoundPrompt, rewriter: Rewriter) -> None:
        self._name = name
        self.prompt: BasePromptTemplate[Any] = found.prompt
        self.parser: BaseOutputParser[Any] | None = found.parser
        self._rewriter = rewriter
        self._state = rewriter.original
        self._signature = Signature(
            inputs=_prompt_inputs(found.prompt), outputs=_output_fields(found.parser)
        )
        self.output_is_raw_text = (
            found.model is not None
            and not found.tools_bound
            and not found.steps_after
            and (found.parser is None or type(found.parser) is StrOutputParser)
        )
        """The output ``text`` is the model's reply as it is: the model follows the prompt (not
        inside a ``RunnableParallel``, e.g. ``include_raw=True``'s; not bound with tools, whose
        reply is usually a tool call), then no parser or
        ``StrOutputParser()`` (a JSON, Pydantic or tool-call parser makes it structured text),
        and no later step (a lambda, a second parser) reshapes it before the chain returns.
        mipro_core reads it to map a one-prompt chain's output to the data's one gold field."""

    @property
    def name(self) -> str:
        return self._name

    @property
    def signature(self) -> Signature:
        return self._signature

    @property
    def state(self) -> ModuleState:
        return self._state

    def describe(self, name: str | None = None) -> list[str]:
        """Lines for the proposer's view of the program: the module's name (``name`` when a
        wrapping program shows it under another), fields and prompt text."""
        sig = self._signature
        lines = [
            f"- {name or self._name} ({type(self.prompt).__name__}): "
            f"({', '.join(sig.inputs)}) -> ({', '.join(sig.outputs)})"
        ]
        text = pretty_text(self.prompt)
        return lines + [f"    {line}" for line in text[:1500].splitlines()]

    @property
    def original_state(self) -> ModuleState:
        """The state the prompt had when the chain was adapted."""
        return self._rewriter.original

    def pristine_prompt(self) -> BasePromptTemplate[Any]:
        """A new prompt object as the prompt was when the chain was adapted (for a replica)."""
        return self._rewriter.pristine_copy()

    def set_state(self, state: ModuleState) -> None:
        try:
            self._rewriter.apply(state)
        except MiproError:
            raise
        except Exception as exc:  # a framework error: name the module it concerns
            raise InvalidInputError(
                f"cannot write the new instruction and demos into prompt {self._name!r} "
                f"({type(self.prompt).__name__}): {type(exc).__name__}: {exc}"
            ) from exc
        self._state = state

    def outputs_of(
        self, text: str, tool_args: Mapping[str, Any] | None = None
    ) -> Mapping[str, Any]:
        """The module's output fields for a model answer: parsed fields or ``{"text": ...}``.

        ``tool_args``: the arguments of the answer's first tool call, when the model answered
        with one (``with_structured_output`` through tool calling): they are the parsed fields;
        a text-only module keeps the answer's text, or the arguments as JSON if it has none.
        """
        fields = self._signature.outputs
        if tool_args is not None and fields != ("text",):
            return {k: tool_args[k] for k in fields if k in tool_args}
        if tool_args is not None and not text.strip():
            return {"text": json.dumps(dict(tool_args), ensure_ascii=False, default=str)}
        if fields == ("text",) or self.parser is None:
            return {"text": text}
        try:
            parsed = self.parser.parse(text)
        except Exception:
            return {"text": text}
        if hasattr(parsed, "model_dump"):
            parsed = parsed.model_dump(mode="json")
        if not isinstance(parsed, Mapping):
            return {"text": text}
        return {k: parsed[k] for k in fields if k in parsed}


def module_of(found: FoundPrompt, *, warn: bool = True) -> LangChainModule | None:
    """The module for a discovered prompt; ``None`` (with a warning) for a prompt type the
    adapter cannot rewrite. A prompt whose template text cannot be read is an error naming it."""
    try:
        rewriter = make_rewriter(found.prompt)
        if rewriter is None:
            if not warn:
                return None
            logger.warning(
                "prompt %r (%s) is not optimized: this prompt type cannot be rewritten",
                found.path,
                type(found.prompt).__name__,
            )
            return None
        return LangChainModule(found.path, found, rewriter)
    except MiproError:
        raise
    except Exception as exc:  # e.g. a template the template engine cannot parse
        raise InvalidInputError(
            f"cannot read prompt {found.path!r} ({type(found.prompt).__name__}): "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _prompt_inputs(prompt: BasePromptTemplate[Any]) -> tuple[str, ...]:
    """The prompt's variables: required ones, then optional ones (an optional
    ``MessagesPlaceholder``, e.g. ``("placeholder", "{messages}")``, is still an input)."""
    optional = [v for v in (prompt.optional_variables or []) if v not in prompt.input_variables]
    return (*prompt.input_variables, *optional)


def _output_fields(parser: BaseOutputParser[Any] | None) -> tuple[str, ...]:
    schema: Any = None
    if isinstance(parser, JsonOutputParser):
        schema = getattr(parser, "pydantic_object", None)
    elif isinstance(parser, PydanticToolsParser) and len(parser.tools) == 1:
        schema = parser.tools[0]  # ``with_structured_output(Model)`` through tool calling
    fields = getattr(schema, "model_fields", None)
    if isinstance(fields, Mapping) and fields:
        return tuple(str(name) for name in fields)
    return ("text",)
