"""Test helpers for LangChain users: a LangChain chat model backed by any mipro ``LM``.

``LMChatModel(lm=SimulatedLM())`` lets a real chain run offline against mipro's simulated model,
so a chain's optimization can be tested without a provider. ``bind_tools`` works when the ``LM``
has a ``chat(messages, tools=..., temperature=...)`` method (``SimulatedLM`` does: it calls
tools on the ``tool_qa`` task of :func:`mipro_core.testing.load_tool_task`, a simulation).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, convert_to_openai_messages
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict

from mipro_core import Message

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def to_core_messages(messages: list[BaseMessage]) -> list[Message]:
    """LangChain messages as mipro ``Message`` dicts (other roles count as ``user``)."""
    converted: list[Message] = []
    for message in messages:
        role = _ROLES.get(message.type, "user")
        converted.append({"role": role, "content": str(message.text)})  # type: ignore[typeddict-item]
    return converted


class LMChatModel(BaseChatModel):
    """A ``BaseChatModel`` that answers by calling a mipro ``LM`` (e.g. ``SimulatedLM``).

    ``temperature`` and ``n`` are passed to the ``LM``; ``invoke`` returns the first of the ``n``
    completions, ``generate`` all of them.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    lm: Any
    temperature: float = 0.0
    n: int = 1

    @property
    def _llm_type(self) -> str:
        return "mipro-lm"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Offer ``tools`` to the model (OpenAI tool format); its ``LM`` must have ``chat``."""
        if not callable(getattr(self.lm, "chat", None)):
            raise NotImplementedError(
                f"{type(self.lm).__name__} has no chat(messages, tools=...) method: it cannot "
                "call tools"
            )
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if kwargs.get("tools"):
            reply = self.lm.chat(
                convert_to_openai_messages(messages),
                tools=kwargs["tools"],
                temperature=self.temperature,
            )
            return ChatResult(generations=[ChatGeneration(message=_ai_message(reply))])
        texts = self.lm(to_core_messages(messages), n=self.n, temperature=self.temperature)
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage(content=text)) for text in texts]
        )


def _ai_message(reply: dict[str, Any]) -> AIMessage:
    """An OpenAI-style assistant message as an ``AIMessage`` (tool calls parsed)."""
    calls = [
        {
            "name": call["function"]["name"],
            "args": json.loads(call["function"]["arguments"] or "{}"),
            "id": call.get("id"),
            "type": "tool_call",
        }
        for call in reply.get("tool_calls") or ()
    ]
    return AIMessage(content=reply.get("content") or "", tool_calls=calls)
