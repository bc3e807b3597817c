"""The end-to-end RAG pipeline of the tests, importable and runnable as a fresh process.

A ``VectorStoreIndex`` over a small knowledge base of the ``rule_qa`` world (one document per
fact, answers written plainly), a deterministic hashing embedding, and a ``CustomLLM`` backed by
the ``SimulatedLM``. The house answer-format rules of ``rule_qa`` (names lowercase, places
without punctuation, ISO dates, everything else in capitals) are not in the documents: the QA
prompt has to carry them, which is what optimization finds.

Run as a script, ``python rag_pipeline.py ARTIFACT`` rebuilds the pipeline from scratch,
applies the artifact with ``mipro_core.apply`` and prints the resulting prompt and answers as
JSON.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from typing import Any

from llama_index.core import VectorStoreIndex
from llama_index.core.schema import TextNode
from mipro_llamaindex.testing import HashingEmbedding, LMBackedLLM

from mipro_core import Example
from mipro_core.testing import SimulatedLM, load_task

QA = "response_synthesizer.text_qa_template"


def knowledge_base() -> list[TextNode]:
    """One node per ``rule_qa`` fact, with the answer as plain text (no format rule).

    Node ids are fixed (LlamaIndex's splitter would draw random ones, and the vector store
    breaks score ties by id), so retrieval is identical in every process.
    """
    raw = resources.files("mipro_core.testing").joinpath("data", "rule_qa.json").read_text("utf-8")
    data = json.loads(raw)
    return [
        TextNode(text=f"{item['question'].rstrip('?')}: {item['plain_answer']}.", id_=f"fact-{i}")
        for i, item in enumerate(it for split in ("train", "val", "test") for it in data[split])
    ]


def build_index() -> VectorStoreIndex:
    return VectorStoreIndex(knowledge_base(), embed_model=HashingEmbedding())


def build_engine(index: VectorStoreIndex | None = None, seed: int = 0) -> Any:
    index = index or build_index()
    llm = LMBackedLLM(SimulatedLM(seed=seed))
    return index.as_query_engine(llm=llm, similarity_top_k=2)  # LlamaIndex's default prompts


def as_query(example: Example) -> Example:
    """A ``rule_qa`` example with the query engine's input key."""
    return Example({"query": example.inputs["question"]}, example.outputs)


def splits() -> tuple[list[Example], list[Example], list[Example]]:
    task = load_task("rule_qa")
    return (
        [as_query(e) for e in task.trainset],
        [as_query(e) for e in task.valset],
        [as_query(e) for e in task.testset],
    )


def main(artifact: str) -> None:
    import mipro_core

    engine = build_engine()
    mipro_core.apply(engine, artifact)
    _, _, test = splits()
    template = engine.get_prompts()["response_synthesizer:text_qa_template"]
    answers = [str(engine.query(e.inputs["query"])) for e in test[:8]]
    print(json.dumps({"template": template.get_template(), "answers": answers}))


if __name__ == "__main__":
    main(sys.argv[1])
