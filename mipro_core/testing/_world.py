"""The simulated world: the bundled questions, answers and corpus, indexed once per process.

The simulated model "recognises" an input by finding one of the world's questions in it. Only
facts of the ``rule_qa`` pool are known to the model (closed-book); ``multihop_qa`` facts must
be read from retrieved passages; ``scone_nli`` answers are "reasoned" with a probability that
depends on the negations in the question; ``tool_qa`` answers come from tools (see
:mod:`._tool_behaviour`).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any

import attrs

from ._text import question_key
from ._tool_task import TOOL_QA, tool_qa_data

_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENTENCE_SPLIT = re.compile(r"(?<=\.)\s+")
_ENUM_PREFIX = re.compile(
    r"^\s*(?:[A-Za-z_]{1,20}\s*:\s*)?(?:\[\d+\]|\d+[.):]|[-*\u2022>]|passage \d+:|doc(?:ument)? \d+:)?\s*",
    re.I,
)

RULE_QA = "rule_qa"
MULTIHOP_QA = "multihop_qa"
SCONE_NLI = "scone_nli"
_MAX_QUESTION_CHARS = 400


@attrs.frozen(slots=True)
class QInfo:
    """What the world knows about one question."""

    task: str
    question: str
    category: str
    plain: str
    """The answer as the model writes it by default (no formatting rule applied)."""
    gold: str
    """The gold answer (for ``rule_qa``: with the category's formatting rule applied)."""
    hop1_entity: str = ""
    hop1_hint: str = ""
    hop1_fact: str = ""
    bridge: str = ""
    bridge_hint: str = ""
    bridge_fact: str = ""
    distractor: str = ""
    surface: str = ""
    """``scone_nli``: the answer when negation is ignored ("yes" iff the conclusion generalises)."""


@attrs.frozen(slots=True)
class QuestionHit:
    """A world question found in a text: ``text[start:end]`` is the question (with its '?')."""

    start: int
    end: int
    info: QInfo


def load_json(name: str) -> dict[str, Any]:
    """Read one bundled data file (plain JSON, never executed)."""
    text = resources.files("mipro_core.testing").joinpath("data").joinpath(name).read_text("utf-8")
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("format_version") != 1:
        raise ValueError(f"bundled data file {name} has an unexpected format")
    return data


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


class World:
    """Indexes over every bundled question, answer and corpus sentence."""

    def __init__(
        self,
        rule_qa: Mapping[str, Any],
        multihop: Mapping[str, Any],
        scone: Mapping[str, Any] | None = None,
        tools: Mapping[str, Any] | None = None,
    ) -> None:
        self.questions: dict[str, QInfo] = {}
        pools: dict[tuple[str, str], list[str]] = {}
        for item in _items(rule_qa):
            info = QInfo(
                task=RULE_QA,
                question=item["question"],
                category=item["category"],
                plain=item["plain_answer"],
                gold=item["answer"],
            )
            self._add(info, pools)
        for item in _items(multihop):
            info = QInfo(
                task=MULTIHOP_QA,
                question=item["question"],
                category=item["answer_category"],
                plain=item["answer"],
                gold=item["answer"],
                hop1_entity=item["hop1_entity"],
                hop1_hint=item["hop1_hint"],
                hop1_fact=item["hop1_fact"],
                bridge=item["bridge"],
                bridge_hint=item["bridge_hint"],
                bridge_fact=item["bridge_fact"],
                distractor=item["distractor"],
            )
            self._add(info, pools)
        for item in _items(scone or {}):
            info = QInfo(
                task=SCONE_NLI,
                question=item["question"],
                category=item["category"],
                plain=item["answer"],
                gold=item["answer"],
                surface=item["surface"],
            )
            self._add(info, pools)
        for item in _items(tools or {}):
            info = QInfo(
                task=TOOL_QA,
                question=item["question"],
                category=item["category"],
                plain=item["answer"],
                gold=item["answer"],
            )
            self._add(info, pools)
        self.pools: dict[tuple[str, str], tuple[str, ...]] = {
            k: tuple(sorted(set(v))) for k, v in pools.items()
        }
        self.corpus: tuple[str, ...] = tuple(multihop.get("corpus", ()))
        self.corpus_sentences: frozenset[str] = frozenset(
            s.strip() for doc in self.corpus for s in _SENTENCE_SPLIT.split(doc) if s.strip()
        )
        # Formatted (rule-following) answer forms of rule_qa, as token strings -> category.
        self.formatted_forms: dict[str, str] = {}
        for info in self.questions.values():
            if info.task == RULE_QA and info.category in ("person", "place", "other"):
                self.formatted_forms[" ".join(tokens(info.gold))] = info.category
        self.max_form_tokens = max((k.count(" ") + 1 for k in self.formatted_forms), default=1)
        # every question length in words, longest first: a question is a suffix of one of them
        self._question_lengths = sorted({k.count(" ") + 1 for k in self.questions}, reverse=True)
        self._find_cached = functools.lru_cache(maxsize=8192)(self._find_questions)

    def _add(self, info: QInfo, pools: dict[tuple[str, str], list[str]]) -> None:
        key = question_key(info.question)
        if key in self.questions:
            raise ValueError(f"duplicate question in bundled data: {info.question!r}")
        self.questions[key] = info
        pools.setdefault((info.task, info.category), []).append(info.plain)

    # ------------------------------------------------------------------ recognition

    def find_questions(self, text: str) -> list[QuestionHit]:
        """Every world question in ``text``, in order of appearance."""
        return list(self._find_cached(text))

    def _find_questions(self, text: str) -> tuple[QuestionHit, ...]:
        hits: list[QuestionHit] = []
        j = text.find("?")
        while j != -1:
            line_start = text.rfind("\n", 0, j) + 1
            line_start = max(line_start, j - _MAX_QUESTION_CHARS)
            segment = text[line_start:j]
            info = self._lookup_suffix(segment)
            if info is not None:
                at = segment.lower().rfind(info.question[:-1].lower())
                start = line_start + at if at >= 0 else line_start
                hits.append(QuestionHit(start, j + 1, info))
            j = text.find("?", j + 1)
        return tuple(hits)

    def _lookup_suffix(self, segment: str) -> QInfo | None:
        """The longest world question that ``segment`` ends with (whatever precedes it on the
        line: a label, a quote, or other examples of a one-line list such as a dict repr)."""
        words = question_key(segment).split()
        for length in self._question_lengths:
            if length <= len(words):
                info = self.questions.get(" ".join(words[-length:]))
                if info is not None:
                    return info
        return None

    def is_passage_line(self, line: str) -> bool:
        """Is ``line`` a corpus passage (possibly numbered, e.g. ``[2] ...``)?"""
        body = _ENUM_PREFIX.sub("", line, count=1).strip()
        if not body:
            return False
        first = _SENTENCE_SPLIT.split(body, maxsplit=1)[0]
        return first in self.corpus_sentences

    def iter_formatted_forms(self, text: str) -> Iterator[str]:
        """Yield the category of every rule-following ``rule_qa`` answer form found in ``text``."""
        toks = tokens(text)
        forms = self.formatted_forms
        longest = self.max_form_tokens
        for i in range(len(toks)):
            for length in range(1, longest + 1):
                if i + length > len(toks):
                    break
                category = forms.get(" ".join(toks[i : i + length]))
                if category is not None:
                    yield category

    @functools.cached_property
    def name_sentences(self) -> dict[str, tuple[tuple[str, int], ...]]:
        """Bridge name -> every (corpus sentence, offset of the name in it)."""
        names = {info.bridge for info in self.questions.values() if info.bridge}
        index: dict[str, list[tuple[str, int]]] = {n: [] for n in names}
        for sentence in self.corpus_sentences:
            for name in names:
                offset = sentence.find(name)
                if offset != -1:
                    index[name].append((sentence, offset))
        return {n: tuple(sorted(v)) for n, v in index.items()}

    def mentions_outside_passages(self, text: str, name: str) -> int:
        """How often ``name`` occurs in ``text`` other than inside a quoted corpus sentence."""
        count = 0
        sentences = self.name_sentences.get(name, ())
        pos = text.find(name)
        while pos != -1:
            inside = any(text.startswith(s, pos - off) for s, off in sentences if pos >= off)
            if not inside:
                count += 1
            pos = text.find(name, pos + 1)
        return count


def _items(data: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for split in ("train", "val", "test"):
        yield from data.get(split, ())


@functools.cache
def get_world() -> World:
    """The process-wide world (loaded and indexed on first use)."""
    return World(
        load_json("rule_qa.json"),
        load_json("multihop_qa.json"),
        load_json("scone_nli.json"),
        tool_qa_data(),
    )
