"""Offline stand-ins for tests and demos: a hashing embedding and an LLM backed by any mipro LM.

With these, a real ``VectorStoreIndex`` RAG pipeline runs without network or model downloads::

    from llama_index.core import Document, VectorStoreIndex
    from mipro_core.testing import SimulatedLM
    from mipro_llamaindex.testing import HashingEmbedding, LMBackedLLM

    llm = LMBackedLLM(SimulatedLM(seed=0))
    index = VectorStoreIndex.from_documents(docs, embed_model=HashingEmbedding())
    engine = index.as_query_engine(llm=llm)
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Sequence
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback

from mipro_core import LM, Message

_WORD = re.compile(r"[a-z0-9]+")


class HashingEmbedding(BaseEmbedding):
    """Deterministic bag-of-words embedding: each lowercase word (and word pair) hashed into
    ``embed_dim`` buckets, L2-normalised. Texts sharing words are close; no model, no network."""

    embed_dim: int = Field(default=1024, gt=0)

    @classmethod
    def class_name(cls) -> str:
        return "HashingEmbedding"

    def _embed(self, text: str) -> list[float]:
        words = _WORD.findall(text.lower())
        features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        vector = [0.0] * self.embed_dim
        for feature in features:
            digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.embed_dim
            vector[bucket] += 1.0 if digest[4] % 2 else -1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embed(text)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embed(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._embed(query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self._embed(text)


_ROLE_NAMES = {MessageRole.SYSTEM: "system", MessageRole.ASSISTANT: "assistant"}


def _as_message(message: ChatMessage) -> Message:
    role = _ROLE_NAMES.get(message.role, "user")
    return {"role": role, "content": message.content or ""}  # type: ignore[typeddict-item]


class LMBackedLLM(CustomLLM):
    """A LlamaIndex LLM that answers with a mipro :class:`~mipro_core.LM` (e.g. ``SimulatedLM``).

    As a chat model (the default) chat messages go to the LM with their roles; completion calls
    send one user message, or call ``lm.complete(prompt)`` when the LM has that method.
    """

    is_chat_model: bool = True
    context_window: int = 16384
    num_output: int = 256
    model_name: str = "mipro-lm"
    _lm: Any = PrivateAttr()

    def __init__(self, lm: LM, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lm = lm

    @property
    def lm(self) -> LM:
        return self._lm  # type: ignore[no-any-return]

    @classmethod
    def class_name(cls) -> str:
        return "LMBackedLLM"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.num_output,
            model_name=self.model_name,
            is_chat_model=self.is_chat_model,
        )

    def _answer(self, messages: Sequence[Message], temperature: float) -> str:
        texts = self._lm(list(messages), n=1, temperature=temperature)
        return texts[0] if texts else ""

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = self._answer([_as_message(m) for m in messages], kwargs.get("temperature", 0.0))
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = self._answer([_as_message(m) for m in messages], kwargs.get("temperature", 0.0))
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        temperature = kwargs.get("temperature", 0.0)
        complete = getattr(self._lm, "complete", None)
        if callable(complete):
            return CompletionResponse(text=str(complete(prompt, temperature=temperature)))
        return CompletionResponse(
            text=self._answer([{"role": "user", "content": prompt}], temperature)
        )

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        response = self.complete(prompt, formatted=formatted, **kwargs)

        def gen() -> CompletionResponseGen:
            yield CompletionResponse(text=response.text, delta=response.text)

        return gen()
