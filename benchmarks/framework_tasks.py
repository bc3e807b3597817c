"""LangChain and LlamaIndex versions of the bundled simulated tasks, for the benchmarks.

Each builder returns the framework object a user would hand to ``mipro_core.optimize``, written
the way a user of that framework would write it (no mipro inside), running offline on the
:class:`~mipro_core.testing.SimulatedLM` through the adapters' test helpers:

* :func:`langchain_multihop` -- ``multihop_qa`` as a LangChain chain: one query prompt used for
  both hops (BM25 retrieval over the task corpus in between), then an answer prompt. Three LM
  calls per question, like the native program. Takes ``{"question": ...}``.
* :func:`langchain_rule_qa` -- ``rule_qa`` as a one-prompt chain. Takes ``{"question": ...}``.
* :func:`llamaindex_rule_qa` -- ``rule_qa`` as a ``VectorStoreIndex`` RAG query engine with
  LlamaIndex's default ``as_query_engine`` prompts over one node per fact of the ``rule_qa``
  world (answers written plainly: the format rules are not in the documents). Takes
  ``{"query": ...}``; :func:`llamaindex_examples` converts task examples.

Every builder takes ``seed`` (the ``SimulatedLM`` seed) and optionally ``lm``, any mipro ``LM``
to use instead (e.g. a timing wrapper around a ``SimulatedLM``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough
from llama_index.core import VectorStoreIndex
from llama_index.core.schema import TextNode
from mipro_langchain.testing import LMChatModel
from mipro_llamaindex.testing import HashingEmbedding, LMBackedLLM

from mipro_core import LM, Example
from mipro_core.testing import SimulatedLM, load_task

FRAMEWORKS: dict[str, tuple[str, ...]] = {
    "multihop_qa": ("native", "langchain"),
    "rule_qa": ("native", "langchain", "llamaindex"),
}
"""The (task, framework) pairs the benchmarks cover."""

LLAMAINDEX_TOP_K = 2


def _lm(seed: int, lm: LM | None) -> LM:
    return lm if lm is not None else SimulatedLM(seed=seed)


def _format_passages(passages: list[str]) -> str:
    return "\n".join(f"[{i}] {p}" for i, p in enumerate(passages, 1))


def langchain_multihop(seed: int = 0, *, lm: LM | None = None) -> Runnable[Any, str]:
    """``multihop_qa`` as a LangChain chain: query, retrieve, query, retrieve, answer."""
    task = load_task("multihop_qa")
    search = task.search
    assert search is not None
    llm = LMChatModel(lm=_lm(seed, lm))
    query_prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Write a search query that will help answer the question."),
            ("human", "Context:\n{context}\n\nQuestion: {question}"),
        ]
    )
    answer_prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer the question."),
            ("human", "Context:\n{context}\n\nQuestion: {question}"),
        ]
    )
    write_query = query_prompt | llm | StrOutputParser()

    def start(inputs: dict[str, Any]) -> dict[str, Any]:
        return {"question": inputs["question"], "passages": [], "context": ""}

    def retrieve(state: dict[str, Any]) -> dict[str, Any]:
        passages = list(state["passages"])
        for passage in search(state["query"], k=3):
            if passage not in passages:
                passages.append(passage)
        return {**state, "passages": passages, "context": _format_passages(passages)}

    hop = RunnablePassthrough.assign(query=write_query) | RunnableLambda(retrieve)
    return RunnableLambda(start) | hop | hop | answer_prompt | llm | StrOutputParser()


def langchain_rule_qa(seed: int = 0, *, lm: LM | None = None) -> Runnable[Any, str]:
    """``rule_qa`` as a one-prompt LangChain chain: ``prompt | model | StrOutputParser()``."""
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer the question."), ("human", "Question: {question}")]
    )
    return prompt | LMChatModel(lm=_lm(seed, lm)) | StrOutputParser()


def rule_qa_nodes() -> list[TextNode]:
    """One node per ``rule_qa`` fact (all splits), the answer in plain text.

    Node ids are fixed so that the vector store's tie-breaking, hence retrieval, is the same in
    every process.
    """
    path = resources.files("mipro_core.testing").joinpath("data").joinpath("rule_qa.json")
    data = json.loads(path.read_text("utf-8"))
    items = (item for split in ("train", "val", "test") for item in data[split])
    return [
        TextNode(text=f"{item['question'].rstrip('?')}: {item['plain_answer']}.", id_=f"fact-{i}")
        for i, item in enumerate(items)
    ]


@functools.cache
def rule_qa_index() -> VectorStoreIndex:
    """The ``rule_qa`` knowledge base, embedded once per process (read-only afterwards)."""
    return VectorStoreIndex(rule_qa_nodes(), embed_model=HashingEmbedding())


def llamaindex_rule_qa(seed: int = 0, *, lm: LM | None = None) -> Any:
    """``rule_qa`` as a LlamaIndex RAG query engine with the default ``as_query_engine`` prompts."""
    llm = LMBackedLLM(_lm(seed, lm))
    return rule_qa_index().as_query_engine(llm=llm, similarity_top_k=LLAMAINDEX_TOP_K)


def llamaindex_example(example: Example) -> Example:
    """A ``rule_qa`` example with the query engine's input key ``query``."""
    return Example({"query": example.inputs["question"]}, example.outputs)


def llamaindex_examples(examples: Iterable[Example]) -> list[Example]:
    return [llamaindex_example(e) for e in examples]


def same_examples(examples: Iterable[Example]) -> list[Example]:
    """LangChain versions take the task's own ``{"question": ...}`` inputs unchanged."""
    return list(examples)


Builder = Callable[..., Any]
Converter = Callable[[Iterable[Example]], list[Example]]


def framework_version(task: str, framework: str) -> tuple[Builder, Converter]:
    """The builder ``(seed, *, lm=None) -> object`` and example converter of a framework version.

    ``framework="native"`` builds the task's own :class:`~mipro_core.native.NativeProgram`.
    """
    if framework not in FRAMEWORKS.get(task, ()):
        raise ValueError(f"no {framework!r} version of task {task!r}")
    if framework == "native":

        def native(seed: int = 0, *, lm: LM | None = None) -> Any:
            return load_task(task).make_program(_lm(seed, lm))

        return native, same_examples
    builders: dict[tuple[str, str], tuple[Builder, Converter]] = {
        ("multihop_qa", "langchain"): (langchain_multihop, same_examples),
        ("rule_qa", "langchain"): (langchain_rule_qa, same_examples),
        ("rule_qa", "llamaindex"): (llamaindex_rule_qa, llamaindex_examples),
    }
    return builders[(task, framework)]
