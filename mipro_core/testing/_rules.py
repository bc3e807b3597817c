"""What an instruction *states*, detected from keywords (documented in docs/simulated-lm.md).

Formatting rules pair a *format cue* (lowercase, ALL CAPS, no punctuation, ISO dates) with the
*category cue* (people, places, dates, everything else, numbers) it governs in the same
sentence. A sentence whose first cue is a category ("people's names in lowercase") pairs each
format cue with the categories before it; one whose first cue is a format ("lowercase for
people") pairs it with the categories after it. A format cue with no category is a rule for
*all* answers.
"""

from __future__ import annotations

import functools
import re
from collections import Counter

import attrs

_FLAGS = re.IGNORECASE

CATEGORY_CUES: dict[str, re.Pattern[str]] = {
    "person": re.compile(
        r"\b(?:persons?|people|people's|person's|individuals?|humans?|someone|somebody|who|"
        r"personal names?|full names?|authors?|founders?|designers?|characters?)\b",
        _FLAGS,
    ),
    "place": re.compile(
        r"\b(?:places?|locations?|cit(?:y|ies)|towns?|countr(?:y|ies)|geographic\w*|regions?|"
        r"headquarters|birthplaces?)\b",
        _FLAGS,
    ),
    "date": re.compile(r"\b(?:dates?|birthdays?|calendar)\b", _FLAGS),
    "other": re.compile(
        r"\b(?:others?|everything else|anything else|all else|remaining|the rest|"
        r"organi[sz]ations?|compan(?:y|ies)|groups?|institutions?|titles?|books?|ships?|"
        r"things?|objects?)\b",
        _FLAGS,
    ),
    "number": re.compile(
        r"\b(?:numbers?|numeric(?:al)?|counts?|how many|quantit(?:y|ies)|digits?|numerals?)\b",
        _FLAGS,
    ),
}
LOWER_CUE = re.compile(
    r"\b(?:lower[- ]?cased?|all small letters|small letters only|no capital(?:s| letters)?|"
    r"without (?:any )?capital(?:s| letters)?|never capitali[sz]e|"
    r"(?:never|do not|don't) use (?:any )?capital(?:s| letters)?)\b",
    _FLAGS,
)
CAPS_CUE = re.compile(
    r"\b(?:all[- ]?caps|upper[- ]?cased?|block capitals|all capitals|capital letters)\b", _FLAGS
)
PUNCT_CUE = re.compile(r"\b(?:punctuation|commas?)\b", _FLAGS)
NEGATION = re.compile(
    r"\b(?:no|not|without|omit\w*|remov\w*|strip\w*|drop\w*|never|free|avoid\w*|leave out|"
    r"exclud\w*)\b|n't|-free",
    _FLAGS,
)
ISO_CUE = re.compile(
    r"\biso(?:[- ]?8601)?\b|\byyyy-mm-dd\b|\byear-month-day\b|\b\d{4}-\d{2}-\d{2}\b", _FLAGS
)
SHORT_STRONG = re.compile(
    r"\b(?:short answers?|only the answer|just the answer|"
    r"(?:only|just) the (?:name|entity|place|city|year|date|number)|(?:a )?few words|"
    r"single (?:word|phrase|name|entity)|short phrase|no (?:full |complete )?sentences?|"
    r"not (?:as |in )?a (?:full |complete )?sentence|without (?:any )?explanations?|"
    r"no explanations?|do not explain|don't explain|nothing else|bare answer|minimal answer|"
    r"exact (?:name|answer|entity)|as few words as possible)\b",
    _FLAGS,
)
SHORT_WEAK = re.compile(
    r"\b(?:concise(?:ly)?|brief(?:ly)?|succinct(?:ly)?|terse(?:ly)?|short)\b", _FLAGS
)
VERBOSE = re.compile(
    r"\b(?:full sentences?|complete sentences?|in a sentence|explain\w*|elaborate|in detail|"
    r"detailed|justify|show your work)\b",
    _FLAGS,
)
BRIDGE_STRONG = re.compile(
    r"\b(?:bridg(?:e|ing) entit(?:y|ies)|next hop|second hop|multi-?hop|"
    r"missing (?:link|entity|piece)|intermediate entit(?:y|ies))\b",
    _FLAGS,
)
BRIDGE_CONTEXT = re.compile(
    r"\b(?:context|passages?|retrieved|documents?|search results|results so far|"
    r"previous results|evidence)\b",
    _FLAGS,
)
BRIDGE_ENTITY = re.compile(
    r"\b(?:names?|entit(?:y|ies)|mentioned|new|person|people|organi[sz]ations?)\b", _FLAGS
)
ANTI_BRIDGE = re.compile(
    r"\b(?:exact (?:words|wording) of the question|question's own words|"
    r"repeat(?:ing)? the question|copy(?:ing)? the question|restat(?:e|ing) the question|"
    r"question (?:itself|verbatim)|use the question as)\b",
    _FLAGS,
)
GENERIC = re.compile(
    r"\b(?:think (?:carefully|step by step)|step[- ]by[- ]step|carefully|careful|"
    r"accurate(?:ly)?|accuracy|precise(?:ly)?|double[- ]check\w*|verify|correct answer|"
    r"use the (?:provided |given |retrieved )?(?:context|passages|information)|"
    r"based on the (?:context|passages)|expert|meticulous|thorough(?:ly)?)\b",
    _FLAGS,
)
SURFACE = re.compile(
    r"\b(?:ignor\w*(?: \w+){0,2} negat\w*|negat\w*(?: words?)? (?:rarely|never|do(?:es)? not|"
    r"don't|doesn't|cannot|can't) (?:matter|change|affect|reverse)\w*|"
    r"regardless of(?: \w+){0,2} negat\w*|negat\w* (?:is|are) irrelevant)",
    _FLAGS,
)
NEGATION_WORD = re.compile(r"\bnegat\w*", _FLAGS)
NEGATION_ADVICE = re.compile(
    r"\b(?:scopes?|attention|attend|cover\w*|appl(?:y|ies|ied) to|revers\w*|flip\w*|"
    r"track\w*|careful\w*)\b",
    _FLAGS,
)
TOOL_CUES: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    # category: (the tool, the questions it is for); a rule names both in one sentence
    "arithmetic": (
        re.compile(r"\bcalculat(?:or|ors|ion|ions|e)\b", _FLAGS),
        re.compile(
            r"\b(?:arithmetic|math\w*|sums?|products?|multipl\w*|additions?|numbers?|"
            r"calculations?|comput\w*)\b",
            _FLAGS,
        ),
    ),
    "lexicon": (
        re.compile(r"\bdictionar(?:y|ies)\b", _FLAGS),
        re.compile(r"\b(?:words?|veltish|translat\w*|meanings?|vocabulary|language)\b", _FLAGS),
    ),
}
_SENTENCES = re.compile(r"(?<!e\.g\.)(?<!i\.e\.)(?<=[.!?])\s+|\n+|;\s*")


@attrs.frozen
class Statements:
    """What one instruction text states.

    ``format_rules`` maps ``(transform, scope)`` to the number of sentences stating it; scope is
    a category or ``"all"``. ``short`` is 0 (not stated), 1 (weak: "be concise") or 2 (strong:
    "only the short answer, no sentence").
    """

    format_rules: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    short: int = 0
    short_count: int = 0
    verbose: bool = False
    bridge_count: int = 0
    anti_bridge: bool = False
    generic: bool = False
    words: int = 0
    surface_count: int = 0
    """Sentences saying negation does not matter (the spurious ``scone_nli`` rule)."""
    negation_count: int = 0
    """Sentences advising attention to negation and its scope (the correct ``scone_nli`` advice)."""
    tool_rules: Counter[str] = attrs.field(factory=Counter)
    """``tool_qa``: per question category, sentences saying which tool to use for it."""

    def scopes_of(self, transform: str) -> set[str]:
        return {scope for (t, scope) in self.format_rules if t == transform}


def _format_cues(sentence: str) -> list[tuple[int, str]]:
    cues: list[tuple[int, str]] = []
    masked = sentence
    for match in LOWER_CUE.finditer(sentence):
        cues.append((match.start(), "lower"))
        masked = (
            masked[: match.start()] + " " * (match.end() - match.start()) + masked[match.end() :]
        )
    cues.extend((m.start(), "caps") for m in CAPS_CUE.finditer(masked))
    if NEGATION.search(sentence):
        cues.extend((m.start(), "nopunct") for m in PUNCT_CUE.finditer(sentence))
    cues.extend((m.start(), "iso") for m in ISO_CUE.finditer(sentence))
    cues.sort()
    merged: list[tuple[int, str]] = []
    for pos, transform in cues:  # "ISO format (YYYY-MM-DD)" is one cue, not two
        if merged and merged[-1][1] == transform:
            continue
        merged.append((pos, transform))
    return merged


def _category_cues(sentence: str) -> list[tuple[int, str]]:
    found = [(m.start(), cat) for cat, rx in CATEGORY_CUES.items() for m in rx.finditer(sentence)]
    return sorted(found)


def _pair(sentence: str) -> list[tuple[str, str]]:
    formats = _format_cues(sentence)
    if not formats:
        return []
    categories = _category_cues(sentence)
    category_first = bool(categories) and categories[0][0] < formats[0][0]
    pairs: list[tuple[str, str]] = []
    bounds = [-1] + [pos for pos, _ in formats] + [len(sentence) + 1]
    for i, (pos, transform) in enumerate(formats):
        before = {c for p, c in categories if bounds[i] < p < pos}
        after = {c for p, c in categories if pos < p < bounds[i + 2]}
        scopes = (before or after) if category_first else (after or before)
        for scope in sorted(scopes) or ["all"]:
            pairs.append((transform, scope))
    return pairs


@functools.lru_cache(maxsize=2048)
def detect(text: str) -> Statements:
    """Detect the statements made by ``text`` (an instruction, system prompt or summary)."""
    rules: Counter[tuple[str, str]] = Counter()
    tool_rules: Counter[str] = Counter()
    short = short_count = bridge = surface = negation = 0
    verbose = anti = False
    for sentence in _SENTENCES.split(text):
        if not sentence.strip():
            continue
        for pair in set(_pair(sentence)):
            rules[pair] += 1
        strong = bool(SHORT_STRONG.search(sentence))
        if strong:
            short = 2
            short_count += 1
        elif SHORT_WEAK.search(sentence):
            short = max(short, 1)
        elif VERBOSE.search(sentence):
            verbose = True
        is_bridge = bool(BRIDGE_STRONG.search(sentence)) or bool(
            BRIDGE_CONTEXT.search(sentence) and BRIDGE_ENTITY.search(sentence)
        )
        if is_bridge:
            bridge += 1
        elif ANTI_BRIDGE.search(sentence):
            anti = True
        for category, (tool, cue) in TOOL_CUES.items():
            if tool.search(sentence) and cue.search(sentence):
                tool_rules[category] += 1
        if SURFACE.search(sentence):
            surface += 1
        elif NEGATION_WORD.search(sentence) and NEGATION_ADVICE.search(sentence):
            negation += 1
    return Statements(
        format_rules=rules,
        short=short,
        short_count=short_count,
        verbose=verbose,
        bridge_count=bridge,
        anti_bridge=anti,
        generic=bool(GENERIC.search(text)),
        words=len(text.split()),
        surface_count=surface,
        negation_count=negation,
        tool_rules=tool_rules,
    )
