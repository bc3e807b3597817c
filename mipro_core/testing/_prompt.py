"""How the simulated model reads a prompt: messages -> a structured :class:`PromptView`.

Two prompt shapes are understood:

* the native ``field: value`` format of :mod:`mipro_core._chat_format` (a system text that ends
  with ``Reply with exactly these lines:`` and ``field: <field>`` lines; demos as earlier
  user/assistant turns; the live inputs in the last user turn), answered with ``field: value``;
* free-form prompts (LangChain / LlamaIndex templates, plain completion strings), answered with
  bare text. Demos there are earlier user/assistant turns or example blocks (a world question
  followed by its answer) inside the text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .._errors import InvalidInputError
from ._world import QInfo, QuestionHit, World

_REPLY_BLOCK = re.compile(
    r"(?:reply|respond|answer) (?:with|using) (?:exactly )?(?:these|the following) "
    r"(?:lines|fields)\s*:\s*\n((?:[ \t]*[^\n:]{1,60}:[ \t]*<[^\n]*>[ \t]*(?:\n|$))+)",
    re.IGNORECASE,
)
_FIELD_LINE = re.compile(r"^[ \t]*([^\n:]{1,60}?)[ \t]*:[ \t]*<", re.MULTILINE)
_IO_FIELDS_LINE = re.compile(r"^(?:input|output) fields:.*$", re.IGNORECASE | re.MULTILINE)
_LABEL = re.compile(r"^\W{0,3}([A-Za-z][\w /-]{0,30}?)\W{0,3}\s*[:=]\s*(.*)$")
_VALUE_LABELS = ("answer", "query", "response", "output", "result", "prediction", "label")
_QUERY_REQUEST = re.compile(
    r"\b(?:search quer(?:y|ies)|search terms?|quer(?:y|ies) for (?:a|the) search|"
    r"keywords? (?:to|for) search|what (?:to|should (?:we|i)) search|web search|"
    r"(?:write|generate|formulate|produce|give|create) an?(?: \w+)? query|"
    r"rewrite the question as an?(?: search)? query|retrieval query)\b",
    re.IGNORECASE,
)
_INSTRUCTION_REQUEST = re.compile(
    r"\b(?:write|propose|generate|suggest|improve|rewrite|create|draft)\b[^.\n]{0,60}"
    r"\b(?:instructions?|system prompts?)\b",
    re.IGNORECASE,
)
_SUMMARY_REQUEST = re.compile(r"\b(?:summari[sz]e|summary|observations?)\b", re.IGNORECASE)
_JSON_REQUEST = re.compile(r"\bjson\b", re.IGNORECASE)
_JSON_KEYS = re.compile(r'"(\w+)"\s*:\s*\{\s*"(?:title|description|type)"')
_ROLE_ALIASES = {"human": "user", "ai": "assistant", "developer": "system", "model": "assistant"}


@attrs.frozen
class ObservedDemo:
    """A demonstration found in the prompt: its input text, its main output value."""

    info: QInfo | None
    input_text: str
    value: str


@attrs.frozen
class PromptView:
    """A parsed prompt."""

    messages: tuple[tuple[str, str], ...]
    full_text: str
    system: str
    live: str
    requested: tuple[str, ...]
    """Output fields the native format asks for (empty for free-form prompts)."""
    instruction: str
    """The prompt's instruction text (what rules, tips and generic advice are read from)."""
    live_hit: QuestionHit | None
    demos: tuple[ObservedDemo, ...]
    mode: str
    """``"task"``, ``"instruction"`` (write an instruction) or ``"summary"``."""
    role: str
    """For task calls: ``"query"`` (write a search query) or ``"answer"``."""
    json_keys: tuple[str, ...]
    """Non-empty when a free-form prompt asks for JSON: the keys to reply with."""
    has_passages: bool


def normalize_messages(messages: Any) -> tuple[tuple[str, str], ...]:
    """Validate chat messages and return ``(role, content)`` pairs."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidInputError("messages must be a sequence of {'role', 'content'} dicts")
    out: list[tuple[str, str]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise InvalidInputError(f"message {i} must be a dict with 'role' and 'content'")
        role = str(message.get("role", "user")).lower()
        role = _ROLE_ALIASES.get(role, role)
        if role not in ("system", "user", "assistant"):
            role = "user"
        out.append((role, content_text(message.get("content", ""))))
    if not out:
        raise InvalidInputError("messages must not be empty")
    return tuple(out)


def content_text(content: Any) -> str:
    """Message content as text (OpenAI-style lists of parts are joined)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = []
        for part in content:
            if isinstance(part, Mapping):
                parts.append(str(part.get("text", "")))
            else:
                parts.append(str(part))
        return "".join(parts)
    return str(content)


@functools.lru_cache(maxsize=4096)
def _parse_system(system: str) -> tuple[tuple[str, ...], str]:
    """Requested output fields of a native system text, and its instruction text."""
    matches = list(_REPLY_BLOCK.finditer(system))
    if not matches:
        return (), system
    match = matches[-1]
    fields = tuple(f.strip() for f in _FIELD_LINE.findall(match.group(1)) if f.strip())
    instruction = system[: match.start()] + system[match.end() :]
    return fields, _IO_FIELDS_LINE.sub("", instruction).strip()


def main_field(fields: Sequence[str], role: str) -> str:
    lowered = [f.lower() for f in fields]
    keys = ("query", "search") if role == "query" else _VALUE_LABELS
    for key in keys:
        for field, low in zip(fields, lowered, strict=True):
            if key in low:
                return field
    return fields[-1]


def extract_value(segment: str, fields: Sequence[str] = ()) -> str:
    """The main value of an answer text: a labelled answer/query line, else the first line."""
    wanted = {f.lower() for f in fields}
    for line in segment.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        match = _LABEL.match(stripped)
        if match is None:
            return stripped
        label = match.group(1).strip().lower()
        if label in wanted or any(k in label for k in _VALUE_LABELS) or label == "a":
            return match.group(2).strip().strip("\"'")
    return ""


def _text_demos(
    text: str, hits: Sequence[QuestionHit], limit: int, fields: Sequence[str]
) -> list[ObservedDemo]:
    """Example blocks inside one text: each hit (but the live one) and the text after it."""
    demos: list[ObservedDemo] = []
    prev_end = 0
    for i, hit in enumerate(hits[:limit]):
        nxt = hits[i + 1].start if i + 1 < len(hits) else len(text)
        segment = text[hit.end : max(hit.end, nxt)]
        demos.append(
            ObservedDemo(hit.info, text[prev_end : hit.end], extract_value(segment, fields))
        )
        prev_end = hit.end
    return demos


def _answer_end(text: str, pos: int) -> int:
    """End of the answer after a question ending at ``pos``: its line, or the next non-empty one."""
    while pos < len(text):
        newline = text.find("\n", pos)
        end = len(text) if newline == -1 else newline
        if text[pos:end].strip():
            return end
        pos = end + 1
    return len(text)


def _strip_examples(text: str, hits: Sequence[QuestionHit | None]) -> str:
    """``text`` without its example blocks (question + answer line) and without the live
    question (the last hit; pass ``None`` last when every hit is an example)."""
    pieces: list[str] = []
    pos = 0
    for i, hit in enumerate(hits):
        if hit is None:
            continue
        is_live = i == len(hits) - 1
        end = hit.end if is_live else _answer_end(text, hit.end)
        pieces.append(text[pos : hit.start])
        pos = max(pos, end)
    pieces.append(text[pos:])
    return "".join(pieces)


def build_view(messages: tuple[tuple[str, str], ...], world: World) -> PromptView:
    """Parse ``(role, content)`` pairs into a :class:`PromptView`."""
    system = "\n\n".join(c for r, c in messages if r == "system")
    last_user = max((i for i, (r, _) in enumerate(messages) if r == "user"), default=-1)
    live = messages[last_user][1] if last_user >= 0 else messages[-1][1]
    full_text = "\n\n".join(c for _, c in messages)

    requested, instruction = _parse_system(system) if system else ((), "")
    if not requested:
        requested, _ = _parse_system(live)
    native = bool(requested)

    live_hits = world.find_questions(live)
    live_hit = live_hits[-1] if live_hits else None
    has_passages = any(world.is_passage_line(line) for line in live.splitlines() if len(line) > 20)

    if not native:  # the instruction is the template text around questions, examples, passages
        remainder = _strip_examples(live, live_hits)
        if has_passages:
            remainder = "\n".join(
                ln for ln in remainder.splitlines() if not world.is_passage_line(ln)
            )
        system_hits = world.find_questions(system) if system else []
        system_part = _strip_examples(system, [*system_hits, None]) if system_hits else system
        instruction = (system_part + "\n" + remainder).strip()

    # Demonstrations: earlier user/assistant turns, then example blocks inside the texts.
    demos: list[ObservedDemo] = []
    pending_user: str | None = None
    for i, (role, content) in enumerate(messages):
        if i >= last_user >= 0:
            break
        if role == "user":
            pending_user = content
        elif role == "assistant" and pending_user is not None:
            hits = world.find_questions(pending_user)
            info = hits[-1].info if hits else None
            demos.append(ObservedDemo(info, pending_user, extract_value(content, requested)))
            pending_user = None
    if system and not native:
        demos.extend(_text_demos(system, world.find_questions(system), 64, requested))
    if len(live_hits) > 1:
        demos.extend(_text_demos(live, live_hits, len(live_hits) - 1, requested))

    mode = _mode(requested, live_hit, instruction)
    if native:
        role = (
            "query"
            if any("query" in f.lower() or "search" in f.lower() for f in requested)
            else "answer"
        )
    else:
        role = "query" if _QUERY_REQUEST.search(instruction) else "answer"
    json_keys: tuple[str, ...] = ()
    if not native and _JSON_REQUEST.search(instruction):
        keys = tuple(dict.fromkeys(_JSON_KEYS.findall(full_text)))
        json_keys = keys or (("query",) if role == "query" else ("answer",))
    return PromptView(
        messages=messages,
        full_text=full_text,
        system=system,
        live=live,
        requested=requested,
        instruction=instruction,
        live_hit=live_hit,
        demos=tuple(demos),
        mode=mode,
        role=role,
        json_keys=json_keys,
        has_passages=has_passages,
    )


def _mode(requested: Sequence[str], live_hit: QuestionHit | None, instruction: str) -> str:
    if requested:
        lowered = [f.lower() for f in requested]
        if any("instruction" in f or "prompt" in f for f in lowered):
            return "instruction"
        if any(k in f for f in lowered for k in ("summary", "observation", "descri")):
            return "summary"
        return "task"
    if live_hit is None and _INSTRUCTION_REQUEST.search(instruction):
        return "instruction"
    if live_hit is None and _SUMMARY_REQUEST.search(instruction):
        return "summary"
    return "task"
