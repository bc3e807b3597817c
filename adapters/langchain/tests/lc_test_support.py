"""Deterministic LangChain test doubles for the adapter tests."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.llms import LLM
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult


def echo_text(messages: list[BaseMessage]) -> str:
    """What :class:`EchoChatModel` answers: every message, as ``type: content`` lines."""
    return "\n".join(f"{m.type}: {m.content}" for m in messages)


class TextChatModel(BaseChatModel):
    """A chat model whose subclasses only say what text to answer (:meth:`answer`)."""

    @property
    def _llm_type(self) -> str:
        return type(self).__name__

    def answer(self, messages: list[BaseMessage], stop: list[str] | None) -> str:
        raise NotImplementedError

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = self.answer(messages, stop)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


class EchoChatModel(TextChatModel):
    """Answers with the whole prompt it saw, so prompt edits are visible in outputs."""

    prefix: str = ""

    def answer(self, messages: list[BaseMessage], stop: list[str] | None) -> str:
        return self.prefix + echo_text(messages)


class FailingChatModel(TextChatModel):
    """Always raises: drives ``with_fallbacks`` to its fallback."""

    def answer(self, messages: list[BaseMessage], stop: list[str] | None) -> str:
        raise RuntimeError("model unavailable")


class EchoLLM(LLM):
    """A string LLM answering with its prompt."""

    @property
    def _llm_type(self) -> str:
        return "echo-llm"

    def _call(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> str:
        return f"LLM<{prompt}>"
