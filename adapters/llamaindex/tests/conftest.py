"""Shared offline fixtures: a tiny corpus, a hashing embedding, scripted LLMs."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from mipro_llamaindex.testing import HashingEmbedding

FACTS = [
    "Paris is the capital of France. The Seine flows through Paris.",
    "Berlin is the capital of Germany. The Spree flows through Berlin.",
    "Madrid is the capital of Spain. Madrid lies on the Manzanares river.",
    "Rome is the capital of Italy. The Tiber flows through Rome.",
    "Lisbon is the capital of Portugal. The Tagus flows past Lisbon.",
    "Vienna is the capital of Austria. The Danube flows through Vienna.",
]


def script(prompt: str) -> str:
    """A deterministic answer that also satisfies LlamaIndex's JSON parsers.

    Selector prompts get choice 1, sub-question prompts one sub-question per tool, everything
    else an echo of the prompt (so tests can see exactly what the LLM received).
    """
    if "<Tools>" in prompt and "sub_question" in prompt:
        tools = re.findall(r'"(\w+)": "', prompt.split("# Example 2")[-1])
        items = [{"sub_question": f"What about {t}?", "tool_name": t} for t in tools]
        return "```json\n" + json.dumps({"items": items}) + "\n```"
    if "choice" in prompt and "reason" in prompt and "Using only the choices above" in prompt:
        return json.dumps([{"choice": 1, "reason": "first"}])
    return prompt


class ScriptedLLM(CustomLLM):
    """Answers with ``fn(prompt)`` and records every prompt (or chat transcript) it received."""

    chat_model: bool = False
    _fn: Any = PrivateAttr()
    _lock: Any = PrivateAttr()
    _received: Any = PrivateAttr()

    def __init__(self, fn: Callable[[str], str] = script, chat_model: bool = False) -> None:
        super().__init__(chat_model=chat_model)
        self._fn = fn
        self._lock = threading.Lock()
        self._received = []

    @property
    def received(self) -> list[Any]:
        with self._lock:
            return list(self._received)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=8192,
            num_output=256,
            model_name="scripted",
            is_chat_model=self.chat_model,
        )

    def _record(self, item: Any) -> None:
        with self._lock:
            self._received.append(item)

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        transcript = [(m.role.value, m.content or "") for m in messages]
        self._record(transcript)
        text = self._fn("\n".join(f"{r}: {c}" for r, c in transcript))
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self._record(prompt)
        return CompletionResponse(text=self._fn(prompt))

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        response = self.complete(prompt, formatted=formatted, **kwargs)

        def gen() -> CompletionResponseGen:
            yield response

        return gen()


@pytest.fixture(scope="session")
def index() -> VectorStoreIndex:
    documents = [Document(text=t, id_=f"doc{i}") for i, t in enumerate(FACTS)]
    return VectorStoreIndex.from_documents(documents, embed_model=HashingEmbedding())


@pytest.fixture
def scripted() -> type[ScriptedLLM]:
    return ScriptedLLM
