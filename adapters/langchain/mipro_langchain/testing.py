"""Test helpers for LangChain users: a LangChain chat model backed by any mipro ``LM``.

``LMChatModel(lm=SimulatedLM())`` lets a real chain run offline against mipro's simulated model,
so a chain's optimization can be tested without a provider.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
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

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        texts = self.lm(to_core_messages(messages), n=self.n, temperature=self.temperature)
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage(content=text)) for text in texts]
        )
