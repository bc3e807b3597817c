"""LangChain models as the core :class:`~mipro_core.LM` (what the instruction proposer calls)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseLanguageModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.prompt_values import ChatPromptValue
from langchain_core.runnables import Runnable
from langchain_core.runnables.base import RunnableBindingBase
from langchain_core.runnables.configurable import RunnableConfigurableFields

from mipro_core import EmptyCompletionError, LMError, Message, client_retries

from ._discover import unwrap

logger = logging.getLogger("mipro_langchain")

_ROLES: dict[str, type[BaseMessage]] = {
    "system": SystemMessage,
    "user": HumanMessage,
    "assistant": AIMessage,
}


def is_language_model(obj: Any) -> bool:
    """Whether ``obj`` is a LangChain chat model or LLM, possibly behind ``bind``/``with_config``."""
    return isinstance(unwrap(obj), BaseLanguageModel)


def warn_if_client_retries(model: Any) -> None:
    """Log once per model object whose client retries failed requests itself (see
    :mod:`mipro_core.client_retries`); ``max_retries`` is read through LangChain wrappers."""
    client_retries.warn_if_client_retries(model, logger, client=unwrap(model))


def to_langchain(messages: Sequence[Message]) -> list[BaseMessage]:
    converted: list[BaseMessage] = []
    for message in messages:
        cls = _ROLES.get(message["role"], HumanMessage)
        converted.append(cls(content=message["content"]))
    return converted


def text_of(result: Any) -> str:
    if isinstance(result, BaseMessage):
        return str(result.text)
    return str(result)


class LangChainLM:
    """Wraps a LangChain ``BaseChatModel`` / ``BaseLLM`` (or a binding of one) as an ``LM``.

    ``temperature`` (and ``n``) are set on a shallow copy of the model when the model has such
    fields, also inside a ``bind(...)`` / ``with_config(...)`` of one (the wrappers are copied
    around the new model); a bare model with an ``n`` field (e.g. ``ChatOpenAI``) returns the
    ``n`` completions from one request, anything else gets ``n`` requests in one ``batch``. The
    user's model object is never changed. A failure of the model is raised as
    :class:`~mipro_core.TransientLMError` when worth retrying (rate limit, 5xx, timeout,
    connection reset; see :meth:`~mipro_core.LMError.from_provider`), else as
    :class:`~mipro_core.LMError`.
    """

    def __init__(self, model: Runnable[Any, Any]) -> None:
        if not is_language_model(model):
            raise TypeError(f"expected a LangChain chat model or LLM, got {type(model).__name__}")
        self.model = model
        warn_if_client_retries(model)

    def __repr__(self) -> str:
        return f"LangChainLM({type(unwrap(self.model)).__name__})"

    def __call__(
        self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        if n < 1:
            return []
        prompt = to_langchain(messages)
        try:
            texts = self._complete(prompt, n, temperature)
        except Exception as exc:
            # keeps whether it is worth retrying (rate limit, 5xx, timeout: TransientLMError)
            raise LMError.from_provider(
                exc, f"{self!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not texts:  # a reply without choices: a provider glitch, retried like an empty one
            raise EmptyCompletionError(f"{self!r} returned no completion (no choices)")
        if len(texts) != n:
            raise LMError(f"{self!r} returned {len(texts)} completion(s), expected {n}")
        return texts

    def _complete(self, prompt: list[BaseMessage], n: int, temperature: float) -> list[str]:
        model = self.model
        base = unwrap(model)
        fields = type(base).model_fields
        update: dict[str, Any] = {}
        if "temperature" in fields:
            update["temperature"] = temperature
        # one request for n completions only on a bare model: a binding's kwargs would be lost
        native_n = (
            model is base and n > 1 and "n" in fields and isinstance(getattr(base, "n", None), int)
        )
        if native_n:
            update["n"] = n
        copy = base.model_copy(update=update) if update else base
        if native_n or (model is base and n == 1):  # an empty generation list is seen, not an
            # IndexError inside invoke()
            result = copy.generate_prompt([ChatPromptValue(messages=prompt)])
            return [g.text for g in result.generations[0]]
        runnable = _replace_model(model, copy) if update else model
        outputs = [runnable.invoke(prompt)] if n == 1 else runnable.batch([prompt] * n)
        return [text_of(r) for r in outputs]


def _replace_model(obj: Any, model: BaseLanguageModel[Any]) -> Any:
    """``obj`` with the model inside its bindings / configurable fields replaced by ``model``
    (copies of the wrappers: the user's objects are never changed)."""
    if isinstance(obj, RunnableBindingBase):
        return obj.model_copy(update={"bound": _replace_model(obj.bound, model)})
    if isinstance(obj, RunnableConfigurableFields):
        return obj.model_copy(update={"default": _replace_model(obj.default, model)})
    return model
