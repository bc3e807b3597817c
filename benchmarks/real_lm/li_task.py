"""The ``lookup`` task as a LlamaIndex query engine a user would write, and its prompt variants.

``SimpleKeywordTableIndex`` over the generated catalog (``data.catalog()``, one document per
item), queried through ``index.as_query_engine(llm=OpenAILike(...), retriever_mode="simple",
num_chunks_per_query=1, text_qa_template=...)``: the ``simple`` retriever picks the document
matching most of the query's keywords with a regular expression, so no embedding model is
downloaded, and the only LLM call per query is the answer (``text_qa_template``, compact mode).
One short document per query keeps the calls cheap on a 2,048-token window (demos repeat their
contexts); with two documents SmolLM2 often answered about the wrong item.
"""

from __future__ import annotations

from typing import Any

from data import catalog, split

import mipro_core as mc

ZERO_SHOT = "Answer the question using the context."
STRONG = (
    "Find the item of the question in the context and answer with exactly one word in lower "
    "case: a color, a city, or a price as a number. No sentence, no other text."
)
TEMPLATE = "{instruction}\n\nContext:\n{{context_str}}\n\nQuestion: {{query_str}}\nAnswer: "
MODULE = "response_synthesizer.text_qa_template"


def llm(base_url: str, max_tokens: int) -> Any:
    """``OpenAILike`` for the local server: a chat model, temperature 0, a token cap, a timeout
    far above a slow local call."""
    from llama_index.llms.openai_like import OpenAILike

    return OpenAILike(
        model="smollm2",
        api_base=base_url,
        api_key="local",
        is_chat_model=True,
        temperature=0,
        max_tokens=max_tokens,
        context_window=2048,
        timeout=120,
        max_retries=1,
    )


def build(model: Any, instruction: str | None = None) -> Any:
    """The query engine with ``instruction`` (default: the zero-shot one) in its answer prompt."""
    from llama_index.core import Document, PromptTemplate, SimpleKeywordTableIndex

    documents = [Document(text=row["text"], id_=f"item-{i}") for i, row in enumerate(catalog())]
    index = SimpleKeywordTableIndex.from_documents(documents, llm=model)
    template = PromptTemplate(TEMPLATE.format(instruction=instruction or ZERO_SHOT))
    return index.as_query_engine(
        llm=model, retriever_mode="simple", num_chunks_per_query=1, text_qa_template=template
    )


def context(engine: Any, query: str) -> str:
    """What the engine's retriever puts into ``context_str`` for ``query`` (compact mode joins
    the retrieved texts with blank lines)."""
    return "\n\n".join(n.node.get_content() for n in engine.retriever.retrieve(query))


def fixed_demos(k: int = 4) -> list[dict[str, str]]:
    """The first training question of each attribute in turn (color, city, price, ...)."""
    rows = split("lookup", "train")
    picked: list[dict[str, str]] = []
    for prefix in ("What color", "In which city", "How many dollars", "What color"):
        picked.append(next(r for r in rows if r["query"].startswith(prefix) and r not in picked))
    return picked[:k]


def with_demos(engine: Any, demos: list[dict[str, str]]) -> None:
    """Put ``demos`` (with the contexts the retriever gives them) into the answer prompt through
    mipro's adapter, as an artifact would, keeping the instruction."""
    program = mc.adapt(engine)
    module = program.modules[MODULE]
    shown = tuple(
        mc.Demo({"context_str": context(engine, d["query"]), "query_str": d["query"]},
                {"answer": d["label"]})
        for d in demos
    )  # fmt: skip
    program.apply(mc.ProgramState({MODULE: mc.ModuleState(module.state.instruction, shown)}))


def answer(engine: Any, query: str) -> str:
    return str(engine.query(query).response or "")
