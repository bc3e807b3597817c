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


class EchoChatModel(BaseChatModel):
    """Answers with the whole prompt it saw, so prompt edits are visible in outputs."""

    prefix: str = ""

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = self.prefix + echo_text(messages)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


class FailingChatModel(BaseChatModel):
    """Always raises: drives ``with_fallbacks`` to its fallback."""

    @property
    def _llm_type(self) -> str:
        return "failing"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
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
