"""Bundled tasks built on the simulated world: data splits, metric and a baseline program."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from .._errors import InvalidInputError
from .._protocols import LM
from .._types import Example, Signature, Trace
from ..native import NativeProgram, Stage
from ._retrieval import BM25Index
from ._text import (
    answer_text,
    category_of_formatted,
    check_format,
    normalize_answer,
    normalize_loose,
    strip_final_period,
)
from ._world import MULTIHOP_QA, RULE_QA, SCONE_NLI, load_json

RULE_QA_VOTE = "rule_qa_vote"
TASK_NAMES: tuple[str, ...] = (RULE_QA, MULTIHOP_QA, SCONE_NLI, RULE_QA_VOTE)
"""Names accepted by :func:`load_task`."""


@attrs.frozen(eq=False)
class Task:
    """A bundled benchmark task for the :class:`~mipro_core.testing.SimulatedLM`.

    ``metric(example, prediction, trace=None) -> float`` accepts the prediction a program
    returns: a ``dict`` with an ``"answer"`` key (what :class:`~mipro_core.native.NativeProgram`
    returns), a plain string (LangChain chains with a string parser), or an object with an
    ``answer``, ``response`` (LlamaIndex ``Response``) or ``content`` (chat message) attribute.
    ``make_program(lm)`` builds the un-optimized baseline program. Retrieval tasks also have a
    ``corpus`` and ``search(query, k=3) -> list[str]`` (deterministic BM25).
    ``rules`` describe the hidden rules for humans writing prompts and tests; optimizers are
    expected to discover them from data, never to read them.
    """

    name: str
    description: str
    trainset: tuple[Example, ...]
    valset: tuple[Example, ...]
    testset: tuple[Example, ...]
    metric: Callable[..., float]
    make_program: Callable[[LM], NativeProgram]
    corpus: tuple[str, ...] = ()
    search: Callable[..., list[str]] | None = None
    rules: tuple[str, ...] = ()


def _gold(example: Example) -> str:
    try:
        return str(example.outputs["answer"])
    except KeyError:
        raise InvalidInputError(f"example {example.id} has no gold 'answer' output") from None


def rule_qa_metric(example: Example, prediction: Any, trace: Trace | None = None) -> float:
    """1.0 iff the answer obeys its category's format rule and matches the gold answer.

    Whitespace and one final period are ignored; the match is on :func:`normalize_answer`
    (lowercase, no punctuation), after the rule check (which is case- and punctuation-exact).
    """
    gold = _gold(example)
    predicted = strip_final_period(answer_text(prediction))
    category = category_of_formatted(gold)
    ok = check_format(category, predicted) and normalize_answer(predicted) == normalize_answer(gold)
    return 1.0 if ok else 0.0


def multihop_metric(example: Example, prediction: Any, trace: Trace | None = None) -> float:
    """Exact match after SQuAD normalisation (lowercase, no punctuation or articles)."""
    gold = _gold(example)
    return 1.0 if normalize_loose(answer_text(prediction)) == normalize_loose(gold) else 0.0


def scone_metric(example: Example, prediction: Any, trace: Trace | None = None) -> float:
    """Exact match of the yes/no label (lowercase, punctuation ignored)."""
    gold = _gold(example)
    return 1.0 if normalize_loose(answer_text(prediction)) == normalize_loose(gold) else 0.0


def format_passages(passages: Sequence[str]) -> str:
    """Passages as numbered lines, ``[1] ...``, the context format of ``multihop_qa``."""
    return "\n".join(f"[{i}] {p}" for i, p in enumerate(passages, 1))


def _rule_qa_forward(stages: Mapping[str, Stage], inputs: Mapping[str, Any]) -> Any:
    return stages["answer"](question=inputs["question"])


def make_rule_qa_program(lm: LM) -> NativeProgram:
    """The baseline ``rule_qa`` program: one stage, ``question -> answer``."""
    stage = Stage("answer", Signature(("question",), ("answer",)), "Answer the question.", lm=lm)
    return NativeProgram(
        [stage], _rule_qa_forward, description="Answers a question about a fictional world."
    )


VOTERS = ("vote_1", "vote_2", "vote_3")


def _vote_forward(stages: Mapping[str, Stage], inputs: Mapping[str, Any]) -> Any:
    answers = [stages[name](question=inputs["question"])["answer"] for name in VOTERS]
    counts: dict[str, int] = {}
    for answer in answers:  # majority of the exact answers; a tie keeps the earliest
        counts[answer] = counts.get(answer, 0) + 1
    return {"answer": max(answers, key=lambda a: (counts[a], -answers.index(a))), "votes": answers}


def make_rule_qa_vote_program(lm: LM) -> NativeProgram:
    """``rule_qa`` answered by three voter stages whose answers are aggregated by majority."""
    voters = [
        Stage(name, Signature(("question",), ("answer",)), "Answer the question.", lm=lm)
        for name in VOTERS
    ]
    return NativeProgram(
        voters,
        _vote_forward,
        description="Three stages answer a question about a fictional world; the majority "
        "answer wins.",
    )


def make_scone_program(lm: LM) -> NativeProgram:
    """The baseline ``scone_nli`` program: one stage, ``question -> answer`` (yes or no)."""
    stage = Stage(
        "answer",
        Signature(("question",), ("answer",)),
        "Answer the question. Say yes if the conclusion follows from the premise, else no.",
        lm=lm,
    )
    return NativeProgram(
        [stage],
        _rule_qa_forward,
        description="Decides whether a conclusion follows logically from a premise.",
    )


def make_multihop_program(lm: LM, *, search: Callable[..., list[str]]) -> NativeProgram:
    """The baseline ``multihop_qa`` program: query, retrieve, query, retrieve, answer.

    Two modules and three LM calls, like the paper's HotPotQA program: ``generate_query`` is
    called once per hop (with the passages found so far), ``generate_answer`` once.
    """

    def forward(stages: Mapping[str, Stage], inputs: Mapping[str, Any]) -> Any:
        question = inputs["question"]
        passages: list[str] = []
        for _hop in range(2):
            context = format_passages(passages)
            query = stages["generate_query"](context=context, question=question)["search_query"]
            for passage in search(query, k=3):
                if passage not in passages:
                    passages.append(passage)
        return stages["generate_answer"](context=format_passages(passages), question=question)

    query = Stage(
        "generate_query",
        Signature(("context", "question"), ("search_query",)),
        "Write a search query that will help answer the question.",
        lm=lm,
    )
    answer = Stage(
        "generate_answer",
        Signature(("context", "question"), ("answer",)),
        "Answer the question.",
        lm=lm,
    )
    return NativeProgram(
        [query, answer],
        forward,
        description="Answers a two-hop question by searching a small encyclopedia twice.",
    )


def _examples(items: Sequence[Mapping[str, Any]]) -> tuple[Example, ...]:
    return tuple(Example({"question": it["question"]}, {"answer": it["answer"]}) for it in items)


@functools.cache
def load_task(name: str) -> Task:
    """Load a bundled task by name (one of :data:`TASK_NAMES`); cached per process."""
    if name == RULE_QA:
        data = load_json("rule_qa.json")
        return Task(
            name=RULE_QA,
            description=str(data["description"]),
            metric=rule_qa_metric,
            make_program=make_rule_qa_program,
            rules=tuple(f"{k}: {v}" for k, v in data["rules"].items()),
            trainset=_examples(data["train"]),
            valset=_examples(data["val"]),
            testset=_examples(data["test"]),
        )
    if name == RULE_QA_VOTE:
        voting = load_task(RULE_QA)
        return attrs.evolve(
            voting,
            name=RULE_QA_VOTE,
            description="Multi-module voting over rule_qa: " + voting.description,
            make_program=make_rule_qa_vote_program,
        )
    if name == MULTIHOP_QA:
        data = load_json("multihop_qa.json")
        index = BM25Index(data["corpus"])
        return Task(
            name=MULTIHOP_QA,
            description=str(data["description"]),
            metric=multihop_metric,
            make_program=functools.partial(make_multihop_program, search=index.search),
            corpus=index.documents,
            search=index.search,
            rules=(
                "answers are short (just the name, place, year or occupation), not sentences",
                "the second search query must name the bridge entity found in the first "
                "hop's passages",
            ),
            trainset=_examples(data["train"]),
            valset=_examples(data["val"]),
            testset=_examples(data["test"]),
        )
    if name == SCONE_NLI:
        data = load_json("scone_nli.json")
        return Task(
            name=SCONE_NLI,
            description=str(data["description"]),
            metric=scone_metric,
            make_program=make_scone_program,
            rules=tuple(f"{k}: {v}" for k, v in data["rules"].items()),
            trainset=_examples(data["train"]),
            valset=_examples(data["val"]),
            testset=_examples(data["test"]),
        )
    raise InvalidInputError(f"unknown task {name!r}; choose one of {', '.join(TASK_NAMES)}")
