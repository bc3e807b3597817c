"""The real-model tasks as LangChain chains a user would write, and the prompt variants measured
before optimizing (zero-shot, fixed few-shot, a hand-written strong prompt).

* ``sentiment``: ``ChatPromptTemplate(system, "Review: {review}") | llm | StrOutputParser()``.
* ``triage``: two stages: ``summarize`` writes a one-line summary of the customer message, then
  ``classify`` labels the summary; both ``prompt | llm | StrOutputParser()``.

``llm`` is any LangChain chat model: here ``ChatOpenAI`` pointed at the local llama.cpp server.
"""

from __future__ import annotations

from typing import Any

from data import INPUT, LABELS, split
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnablePassthrough

import mipro_core as mc

ZERO_SHOT = {
    "sentiment": "Classify the sentiment of the review.",
    "triage": "Classify the customer's problem.",
}
STRONG = {
    "sentiment": (
        "You label product reviews. Read the whole review: the first sentence can be misleading. "
        "Answer with exactly one word, positive or negative, and nothing else."
    ),
    "triage": (
        "Route the support ticket. Answer with exactly one word: billing (charges, invoices, "
        "refunds), shipping (parcels, delivery, tracking) or account (login, password, profile). "
        "No other text."
    ),
}
SUMMARIZE = "Summarize the customer's message in one short sentence."


def build(task: str, llm: Any, instruction: str | None = None) -> Runnable[Any, str]:
    """The task's chain with ``instruction`` (default: the zero-shot one) on the labeling prompt."""
    system = instruction or ZERO_SHOT[task]
    if task == "sentiment":
        prompt = ChatPromptTemplate.from_messages(
            [("system", system), ("human", "Review: {review}")]
        )
        return prompt | llm | StrOutputParser()
    summarize = ChatPromptTemplate.from_messages(
        [("system", SUMMARIZE), ("human", "Message: {message}")]
    )
    classify = ChatPromptTemplate.from_messages(
        [("system", system), ("human", "Problem: {summary}")]
    )
    return RunnablePassthrough.assign(summary=summarize | llm | StrOutputParser()) | (
        classify | llm | StrOutputParser()
    )


def examples(task: str, part: str) -> list[mc.Example]:
    field = INPUT[task]
    return [
        mc.Example({field: row[field]}, {"label": row["label"]}, id=f"{part}-{i}")
        for i, row in enumerate(split(task, part))
    ]


def fixed_demos(task: str, k: int = 4) -> list[dict[str, str]]:
    """``k`` training rows, labels in turn (the first of each label, then the next ...)."""
    rows = split(task, "train")
    by_label = {lab: [r for r in rows if r["label"] == lab] for lab in LABELS[task]}
    picked: list[dict[str, str]] = []
    i = 0
    while len(picked) < k:
        for lab in LABELS[task]:
            if len(picked) < k and i < len(by_label[lab]):
                picked.append(by_label[lab][i])
        i += 1
    return picked


def with_demos(task: str, chain: Runnable[Any, str], demos: list[dict[str, str]]) -> None:
    """Put ``demos`` into the labeling prompt of ``chain`` through mipro's adapter (as an
    artifact would), keeping the instruction."""
    program = mc.adapt(chain)
    name = list(program.modules)[-1]
    module = program.modules[name]
    field = module.signature.inputs[0]
    out = module.signature.outputs[0]
    state = mc.ProgramState(
        {
            **{n: m.state for n, m in program.modules.items()},
            name: mc.ModuleState(
                module.state.instruction,
                tuple(mc.Demo({field: d[INPUT[task]]}, {out: d["label"]}) for d in demos),
            ),
        }
    )
    program.apply(state)
