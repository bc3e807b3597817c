"""Which discovered prompts reach the LLM on the user's path (static rules, no LLM call).

The optimizer only searches prompts that are actually sent to the model; searching the others
wastes trials and muddles the surrogate's credit assignment. The rules below are read from the
object graph (documented in ``docs/llamaindex.md``):

* A response synthesizer in multimodal mode only uses its ``chat_content_*`` templates (rich
  templates, which the adapter does not rewrite); otherwise those templates never run.
* ``compact`` mode (``CompactAndRefine``, the default of ``as_query_engine()``) packs all
  retrieved text into one ``text_qa_template`` call; its ``refine_template`` only runs when the
  context overflows the model's window, so it is not offered. Plain ``refine`` mode offers both.
* A router's summarizer only runs when a multi-selector picks several engines.
* Chat engines (``CondensePlusContextChatEngine``, ``CondenseQuestionChatEngine``,
  ``ContextChatEngine``): each optimization run starts from an empty chat history, so condense
  prompts never run; context-refine prompts only run on context overflow.
* Keyword-table retrievers: ``keyword_extract_template`` only runs when the index is built, and
  ``query_keyword_extract_template`` only in the LLM retriever mode (``KeywordTableGPTRetriever``,
  the default of ``KeywordTableIndex``); the ``simple`` (regex) and ``rake`` modes call no LLM.
* Templates of kinds the adapter cannot rewrite (rich/jinja or LangChain templates) are skipped.

Anything else found is offered. ``LlamaIndexProgram(include=..., exclude=...)`` overrides the rules.
"""

from __future__ import annotations

from llama_index.core.chat_engine.types import BaseChatEngine
from llama_index.core.indices.keyword_table.retrievers import (
    BaseKeywordTableRetriever,
    KeywordTableGPTRetriever,
)
from llama_index.core.query_engine import RouterQueryEngine
from llama_index.core.response_synthesizers import BaseSynthesizer, CompactAndRefine
from llama_index.core.selectors import LLMMultiSelector, PydanticMultiSelector

from ._discovery import PromptSlot
from ._templates import branches, is_rewritable

_CONDENSE_UNUSED = (
    "the condense prompt only runs with chat history; every optimization run starts from an "
    "empty history"
)
_CONTEXT_REFINE_UNUSED = (
    "the context-refine prompt only runs when the retrieved context overflows the window"
)


def unused_reason(slot: PromptSlot) -> str | None:
    """Why ``slot`` is not offered for optimization, or ``None`` when it reaches the LLM."""
    if not is_rewritable(slot.initial):
        kind = type(slot.initial).__name__
        inner = sorted({type(b).__name__ for b in branches(slot.initial)} - {kind})
        what = f"{kind} ({'/'.join(inner)} branches)" if inner else kind
        return (
            f"{what} templates are not rewritten by this adapter (only plain PromptTemplate and "
            "ChatPromptTemplate, or selectors of them)"
        )
    if not slot.stable:
        return (
            f"{type(slot.owner).__name__} rebuilds this template from its text on every read, "
            "so it cannot be rewritten safely"
        )
    owner = slot.owner
    if isinstance(owner, BaseSynthesizer):
        reason = _synthesizer_reason(owner, slot.key)
        if reason is not None:
            return reason
    if isinstance(owner, BaseKeywordTableRetriever):
        reason = _keyword_reason(owner, slot.key)
        if reason is not None:
            return reason
    if isinstance(owner, BaseChatEngine) and not slot.via_mixin:
        if "condense" in slot.key:
            return _CONDENSE_UNUSED
        if "refine" in slot.key:
            return _CONTEXT_REFINE_UNUSED
    for parent in slot.lineage[:-1]:
        if isinstance(parent, RouterQueryEngine) and parent._summarizer is owner:  # noqa: SIM102
            if not isinstance(parent._selector, (LLMMultiSelector, PydanticMultiSelector)):
                return "the router selects one engine, so its summarizer never runs"
    return None


def _synthesizer_reason(synthesizer: BaseSynthesizer, key: str) -> str | None:
    multimodal = bool(getattr(synthesizer, "_multimodal", False))
    if key.startswith("chat_content_"):
        if not multimodal:
            return "chat_content_* templates are only used in multimodal mode"
        return None
    if multimodal:
        return "this synthesizer runs in multimodal mode and uses its chat_content_* templates"
    if key == "refine_template" and isinstance(synthesizer, CompactAndRefine):
        return (
            "compact mode sends all retrieved text in one text_qa_template call; refine only "
            "runs when the context overflows the window"
        )
    return None


def _keyword_reason(retriever: BaseKeywordTableRetriever, key: str) -> str | None:
    if key == "keyword_extract_template":
        return "the keyword-extract prompt only runs when the index is built, never on a query"
    if key == "query_keyword_extract_template" and not isinstance(
        retriever, KeywordTableGPTRetriever
    ):
        return (
            f"{type(retriever).__name__} extracts the query's keywords without an LLM, so this "
            "prompt never runs"
        )
    return None
