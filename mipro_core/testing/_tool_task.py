"""The ``tool_qa`` task: questions an agent answers with a calculator and a dictionary.

Two kinds of question, generated deterministically (no data file):

* ``arithmetic``: "What is 47 times 86?" (or "... plus ..."); the ``calculator`` tool computes
  it, the simulated model's own arithmetic is unreliable;
* ``lexicon``: "What is the English word for the Veltish word brask?"; Veltish is a fictional
  language, so only the ``dictionary`` tool knows the answer.

The gold answer is the bare value (``4042``, ``lantern``); the metric is an exact match after
:func:`~mipro_core.testing._text.normalize_answer`, so "The answer is 4042." scores 0.
The tools are plain Python functions (framework adapters wrap them in their tool types).
"""

from __future__ import annotations

import ast
import functools
import operator
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .._types import Example, Trace
from ._rng import uniform
from ._text import answer_text, normalize_answer

TOOL_QA = "tool_qa"
LANGUAGE = "Veltish"
LEXICON: dict[str, str] = {
    "brask": "lantern", "dulve": "river", "fenmor": "blanket", "galth": "hammer",
    "hirrin": "mirror", "jost": "orchard", "kelvar": "ladder", "lum": "pepper",
    "marrow": "violin", "nesk": "saddle", "orvin": "candle", "pell": "harbor",
    "quast": "thimble", "rindle": "meadow", "sorn": "kettle", "tavish": "anchor",
    "ulm": "basket", "vesk": "feather", "wendle": "chimney", "yorra": "compass",
    "zell": "ribbon", "abrin": "garden", "bosk": "lizard", "cravel": "bucket",
    "dorn": "whistle", "eskel": "marble", "fruth": "pillow", "grinn": "tunnel",
    "hask": "walnut", "irrow": "blossom", "jaskel": "cabin", "krint": "spoon",
    "lorvel": "glacier", "mosk": "button", "nurrin": "falcon", "ostel": "pumpkin",
    "prell": "scarf", "rusk": "island", "stave": "cricket", "tolm": "beacon",
}  # fmt: skip
"""Veltish -> English: the dictionary tool's whole content."""

_OPS: dict[type[ast.operator], Callable[[int, int], int]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
}
_WORDS = {"times": "*", "plus": "+", "minus": "-"}


def _evaluate(node: ast.AST) -> int:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    raise ValueError("only integers with + - * are supported")


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression on integers with + - * (e.g. "47 * 86")."""
    text = str(expression)
    for word, symbol in _WORDS.items():
        text = text.replace(word, symbol)
    try:
        return str(_evaluate(ast.parse(text.strip(), mode="eval").body))
    except (SyntaxError, ValueError, RecursionError) as exc:
        return f"error: cannot evaluate {expression!r} ({exc})"


def dictionary(word: str) -> str:
    """The English word for a Veltish word ("unknown" when the dictionary does not have it)."""
    return LEXICON.get(str(word).strip().strip("'\"").lower(), "unknown")


TOOLS: dict[str, Callable[[str], str]] = {"calculator": calculator, "dictionary": dictionary}
"""The task's tools by name."""


def expression_of(question: str) -> str | None:
    """The expression an arithmetic question asks for ("47 times 86" -> "47 * 86")."""
    words = question.rstrip("?").split()
    if len(words) < 5 or words[:2] != ["What", "is"]:
        return None
    parts = [_WORDS.get(w, w) for w in words[2:]]
    return " ".join(parts) if all(p.isdigit() or p in "+-*" for p in parts) else None


def word_of(question: str) -> str | None:
    """The Veltish word a lexicon question asks about."""
    marker = f"the {LANGUAGE} word "
    at = question.find(marker)
    return question[at + len(marker) :].rstrip("?").strip() if at >= 0 else None


def _number(key: str, low: int, high: int) -> int:
    return low + int(uniform(key) * (high - low + 1))


@functools.cache
def tool_qa_data() -> dict[str, Any]:
    """Every ``tool_qa`` item, split (``train`` 30, ``val`` 30, ``test`` 40), as plain dicts."""
    items: list[dict[str, str]] = []
    seen: set[str] = set()
    i = 0
    while len(items) < 60:
        i += 1
        if uniform(f"tool_qa|{i}|kind") < 0.6:
            a, b = _number(f"tool_qa|{i}|a", 12, 98), _number(f"tool_qa|{i}|b", 12, 98)
            question, answer = f"What is {a} times {b}?", str(a * b)
        else:
            a, b = _number(f"tool_qa|{i}|a", 120, 980), _number(f"tool_qa|{i}|b", 120, 980)
            question, answer = f"What is {a} plus {b}?", str(a + b)
        if question not in seen:
            seen.add(question)
            items.append({"question": question, "answer": answer, "category": "arithmetic"})
    for word, english in LEXICON.items():
        question = f"What is the English word for the {LANGUAGE} word {word}?"
        items.append({"question": question, "answer": english, "category": "lexicon"})
    items.sort(key=lambda item: uniform(f"tool_qa|order|{item['question']}"))
    return {"format_version": 1, "train": items[:30], "val": items[30:60], "test": items[60:]}


def tool_qa_metric(example: Example, prediction: Any, trace: Trace | None = None) -> float:
    """1.0 iff the answer is the gold value (lowercase, punctuation ignored)."""

    gold = normalize_answer(str(example.outputs.get("answer", "")))
    return 1.0 if normalize_answer(answer_text(prediction)) == gold else 0.0


@attrs.frozen(eq=False)
class ToolTask:
    """The ``tool_qa`` task for agents (see the module docstring and ``docs/simulated-lm.md``).

    Examples have a ``question`` input and a gold ``answer``; ``tools`` maps each tool name to
    its function (``str -> str``); ``rules`` describe the task for humans writing tests.
    """

    name: str
    description: str
    trainset: tuple[Example, ...]
    valset: tuple[Example, ...]
    testset: tuple[Example, ...]
    metric: Callable[..., float]
    tools: Mapping[str, Callable[[str], str]]
    rules: tuple[str, ...] = ()


def load_tool_task() -> ToolTask:
    """The ``tool_qa`` task: arithmetic and fictional-dictionary questions for a tool agent."""
    data = tool_qa_data()

    def split(name: str) -> tuple[Example, ...]:
        return tuple(
            Example({"question": item["question"]}, {"answer": item["answer"]})
            for item in data[name]
        )

    return ToolTask(
        name=TOOL_QA,
        description="Arithmetic and Veltish-word questions, answered with a calculator and a "
        "dictionary tool; the answer is the bare value.",
        trainset=split("train"),
        valset=split("val"),
        testset=split("test"),
        metric=tool_qa_metric,
        tools=dict(TOOLS),
        rules=(
            "arithmetic questions need the calculator (the model's own arithmetic is unreliable)",
            "Veltish words need the dictionary (the language is fictional)",
            "the answer is the bare value, not a sentence",
        ),
    )
