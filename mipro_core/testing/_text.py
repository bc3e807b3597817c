"""Small text helpers shared by the simulated model, the tasks and their metrics."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

MONTHS = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
)  # fmt: skip
_MONTH_INDEX = {name: i + 1 for i, name in enumerate(MONTHS)}
_PUNCT = set(string.punctuation)
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DAY_MONTH_YEAR = re.compile(r"^(\d{1,2}) ([A-Za-z]+) (\d{4})$")
_ARTICLES = re.compile(r"\b(a|an|the)\b")

_STOPWORD_TEXT = (
    "a an and are as at be been by did do does for from has have how in into is it its of on or "
    "that the these this those to was were what when where which who whom whose why with"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
"""Function words ignored by retrieval and when the model writes a query."""

CATEGORIES = ("person", "place", "date", "other", "number")
"""Answer categories of the simulated world (``number`` has no formatting rule)."""

RULE_OF_CATEGORY = {"person": "lower", "place": "nopunct", "date": "iso", "other": "caps"}
"""The hidden answer-format rule (a transform name) of each category of ``rule_qa``."""


def question_key(text: str) -> str:
    """The lookup key of a question: lowercase alphanumeric words joined by single spaces."""
    return _NON_ALNUM.sub(" ", text.lower()).strip()


def normalize_answer(text: str) -> str:
    """Lowercase, punctuation removed, whitespace collapsed."""
    kept = "".join(" " if ch in _PUNCT else ch for ch in text.lower())
    return " ".join(kept.split())


def normalize_loose(text: str) -> str:
    """SQuAD-style normalisation: :func:`normalize_answer` without the articles a/an/the."""
    return " ".join(_ARTICLES.sub(" ", normalize_answer(text)).split())


def strip_final_period(text: str) -> str:
    text = text.strip()
    return text[:-1].rstrip() if text.endswith(".") else text


def has_punctuation(text: str) -> bool:
    return any(ch in _PUNCT for ch in text)


def iso_from_plain(text: str) -> str | None:
    """``"4 March 1872"`` -> ``"1872-03-04"`` (``None`` if the text is not such a date)."""
    match = _DAY_MONTH_YEAR.match(text.strip())
    if not match:
        return None
    month = _MONTH_INDEX.get(match.group(2).lower())
    if month is None:
        return None
    return f"{int(match.group(3)):04d}-{month:02d}-{int(match.group(1)):02d}"


def is_iso_date(text: str) -> bool:
    return bool(_ISO.match(text.strip()))


def check_format(category: str, answer: str) -> bool:
    """Does ``answer`` obey the ``rule_qa`` formatting rule of ``category``?"""
    if category == "person":
        return answer == answer.lower()
    if category == "place":
        return not has_punctuation(answer)
    if category == "date":
        return is_iso_date(answer)
    if category == "other":
        return answer == answer.upper()
    return True


def category_of_formatted(answer: str) -> str:
    """Infer the category of a ``rule_qa`` gold answer from its (rule-following) shape."""
    if is_iso_date(answer):
        return "date"
    if answer.isdigit():
        return "number"
    if answer == answer.upper():
        return "other"
    if answer == answer.lower():
        return "person"
    return "place"


def apply_transform(transform: str, answer: str) -> str:
    """Apply one formatting transform (``lower``, ``caps``, ``nopunct``, ``iso``)."""
    if transform == "lower":
        return answer.lower()
    if transform == "caps":
        return answer.upper()
    if transform == "nopunct":
        return " ".join("".join(ch for ch in answer if ch not in _PUNCT).split())
    if transform == "iso":
        return iso_from_plain(answer) or answer
    raise ValueError(f"unknown transform {transform!r}")


def approx_tokens(text: str, chars_per_token: float = 4.0) -> int:
    """A rough token count (1 token per ``chars_per_token`` characters, at least 1)."""
    return max(1, int(len(text) / chars_per_token))


def answer_text(prediction: Any) -> str:
    """The answer text inside a program's prediction (see :class:`~mipro_core.testing.Task` for accepted shapes)."""
    if prediction is None:
        return ""
    if isinstance(prediction, str):
        return prediction
    if isinstance(prediction, Mapping):
        for key in ("answer", "response", "output", "text", "result"):
            if key in prediction:
                return str(prediction[key])
        if len(prediction) == 1:
            return str(next(iter(prediction.values())))
        return ""
    for attr in ("answer", "response", "content", "text"):
        value = getattr(prediction, attr, None)
        if isinstance(value, str):
            return value
    return str(prediction)
