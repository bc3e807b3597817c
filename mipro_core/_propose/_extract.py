"""The instruction inside a proposer's reply, or ``None`` when the reply is not one.

Small and local models rarely answer with just the instruction. Seen from SmolLM2-135M on
llama.cpp: a chatty preamble ("Sure! Here is the instruction:"), quotes and markdown around it,
several numbered options, the proposer prompt echoed back, and code ("* create_and_process(message)
### PLAIN: ...", "Here's a Python solution..."). :func:`extract_instruction` strips the wrapping
and keeps the first of several offered options; what is left is rejected when it is not prose a
model could follow (code, prompt field markers, an echo of the prompt, too few words).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_FIELD_LABEL = re.compile(
    r"^\s*(?:\[\[\s*##\s*proposed_instruction\s*##\s*\]\]|\**\s*(?:proposed|new|improved|"
    r"revised)?\s*instruction\s*\**\s*:\s*\**)\s*",
    re.IGNORECASE,
)
_PREAMBLE = re.compile(
    r"^\s*(?:sure|certainly|of course|okay|ok|absolutely|great|here(?:'s| is| are))\b[^\n]*?"
    r"(?::|!|\.)\s*(?:\n|$)",
    re.IGNORECASE,
)
_INLINE_PREAMBLE = re.compile(
    r"^\s*(?:sure|certainly|of course|okay|ok|here(?:'s| is| are))\b[^:\n]{0,80}:\s*",
    re.IGNORECASE,
)
_OPTION = re.compile(r"^\s*(?:\d+[.)]|option\s+\d+\s*[:.)-]|instruction\s+\d+\s*[:.)-])\s*", re.I)
_PLURAL = re.compile(r"\b(?:instructions|options|versions|alternatives|variations)\b", re.I)
_AFTERWORD = re.compile(
    r"\n\s*\n\s*(?:this instruction|this prompt|note:|i hope|let me know|feel free|explanation:)",
    re.IGNORECASE,
)
_CODE = re.compile(
    r"```|^\s*(?:def|class|import|from \w+ import|return)\b|\bdef \w+\(|\w+\([\w, ]*\)\s*(?::|$)"
    r"|###|=>|\{\s*\}",
    re.MULTILINE,
)
_MARKER = re.compile(r"\[\[\s*##|\b(?:dataset_summary|program_description|task_demos|"
                     r"proposed_instruction|original_instruction|module_description)\b")  # fmt: skip
_WRAP = "\"'`*“”‘’ \t\n"
MIN_WORDS = 2
MAX_WORDS = 400
ECHO_SHINGLE = 8


def extract_instruction(text: str, prompt: Mapping[str, str] | None = None) -> str | None:
    """The instruction in ``text``, cleaned; ``None`` when ``text`` holds no usable instruction.

    ``prompt``: the proposer's input fields, to recognise a reply that echoes them back (the
    original instruction is left out of that check: repeating it is merely a duplicate)."""
    body = _unwrap(text)
    if not body:
        return None
    if _CODE.search(body) or _MARKER.search(body):
        return None
    words = body.split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return None
    prose = sum(any(c.isalpha() for c in w) for w in words)
    if prose < MIN_WORDS or prose < 0.5 * len(words):
        return None
    if prompt and _echoes(body, prompt):
        return None
    return body


def _unwrap(text: str) -> str:
    body = text.strip()
    body = _FIELD_LABEL.sub("", body, count=1).strip()
    offered_several = False
    preamble = _PREAMBLE.match(body)
    if preamble and body[preamble.end() :].strip():
        offered_several = bool(_PLURAL.search(preamble.group(0)))
        body = body[preamble.end() :].strip()
    else:
        inline = _INLINE_PREAMBLE.match(body)
        if inline and body[inline.end() :].strip():
            body = body[inline.end() :].strip()
    body = _FIELD_LABEL.sub("", body, count=1).strip()
    body = _AFTERWORD.split(body, maxsplit=1)[0].strip()
    lines = [ln for ln in body.splitlines() if ln.strip()]
    options = [ln for ln in lines if _OPTION.match(ln)]
    if len(options) >= 2 and (
        offered_several or re.match(r"\s*(option|instruction)\s+1", lines[0], re.I)
    ):
        body = _OPTION.sub("", options[0], count=1).strip()
    body = body.strip(_WRAP)
    return _FIELD_LABEL.sub("", body, count=1).strip(_WRAP)


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + ECHO_SHINGLE]) for i in range(len(words) - ECHO_SHINGLE + 1)}


def _echoes(body: str, prompt: Mapping[str, str]) -> bool:
    """Most of ``body``'s 8-word runs appear in the prompt's fields (the instruction excluded)."""
    mine = _shingles(body)
    if len(mine) < 3:
        return False
    theirs: set[tuple[str, ...]] = set()
    for name, value in prompt.items():
        if name != "original_instruction":
            theirs |= _shingles(value)
    return len(mine & theirs) >= 0.6 * len(mine)
