"""Any LlamaIndex LLM as the proposer's :class:`mipro_core.LM` (messages in, n texts out)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.base import BaseLLM
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from mipro_core import LMError, Message, client_retries

from ._discovery import attributes, is_traversable

logger = logging.getLogger("mipro_llamaindex")

_ROLES = {
    "system": MessageRole.SYSTEM,
    "user": MessageRole.USER,
    "assistant": MessageRole.ASSISTANT,
}


class LlamaIndexLM:
    """Wraps a LlamaIndex ``LLM`` (chat or completion model) for the instruction proposer.

    Each of the ``n`` completions is one ``llm.chat(...)`` call; completion-only models get the
    messages flattened by LlamaIndex's own ``messages_to_prompt``. ``temperature`` is passed as a
    call keyword, which hosted models honour; local or mock models may ignore it, and then the
    ``n`` completions can be identical. Failures are raised as :class:`mipro_core.LMError`,
    as :class:`mipro_core.TransientLMError` when worth retrying (rate limit, 5xx, timeout).
    """

    def __init__(self, llm: BaseLLM) -> None:
        if not isinstance(llm, BaseLLM):
            raise TypeError(f"expected a LlamaIndex LLM, got {type(llm).__name__}")
        self.llm = llm
        warn_if_client_retries(llm)

    def __call__(
        self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        chat = [ChatMessage(role=_ROLES[m["role"]], content=m["content"]) for m in messages]
        texts = []
        for _ in range(n):
            try:
                response = self.llm.chat(chat, temperature=temperature)
            except Exception as exc:  # one error type that keeps whether to retry
                message = f"{type(self.llm).__name__} failed: {type(exc).__name__}: {exc}"
                raise LMError.from_provider(exc, message) from exc
            texts.append(response.message.content or "")
        return texts

    def __repr__(self) -> str:
        return f"LlamaIndexLM({type(self.llm).__name__})"


def find_llm(obj: Any, depth: int = 0, seen: set[int] | None = None) -> BaseLLM | None:
    """The first LLM held by ``obj`` or the engines, synthesizers and tools inside it."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 8:
        return None
    seen.add(id(obj))
    children = []
    for _, value in attributes(obj):
        if isinstance(value, BaseLLM):
            return value
        if is_traversable(value):
            children.append(value)
        elif isinstance(value, (list, tuple)):
            children.extend(v for v in value if is_traversable(v))
        elif isinstance(value, dict):
            children.extend(v for v in value.values() if is_traversable(v))
    for child in children:
        found = find_llm(child, depth + 1, seen)
        if found is not None:
            return found
    return None


def warn_if_client_retries(model: Any) -> None:
    """Log once per model object whose client retries failed requests itself (see
    :mod:`mipro_core.client_retries`)."""
    client_retries.warn_if_client_retries(model, logger)
