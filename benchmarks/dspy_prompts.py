"""DSPy adapter prompts in mipro's native ``field: value`` layout, and replies back.

The translation of :class:`dspy_tasks.SimulatedDSPyLM` (see ``dspy_tasks``' docstring for why it
exists). Both of DSPy's adapters that the benchmarks meet are handled:

* ``ChatAdapter`` (the task programs, MIPROv2's proposer): ``[[ ## field ## ]]`` sections in,
  ``[[ ## field ## ]]`` sections plus ``[[ ## completed ## ]]`` out;
* ``JSONAdapter`` (GEPA's instruction proposer in dspy >= 3.4, and ChatAdapter's fallback after
  a parse failure): the same sections in (its system message says "Outputs will be a JSON
  object"), a JSON object of the output fields out.

A section whose value is a JSON list or object of objects (GEPA's ``examples_with_feedback``:
``[{"Inputs": {...}, "Generated Outputs": {...}, "Feedback": "..."}]``) is rendered in the
markdown layout of the ``gepa`` package's own reflection prompt (``# Example 1``, ``## Inputs``,
``### question``, the value on its own lines), which carries the same text: JSON escapes
newlines and quotes, and ``SimulatedLM`` reads a labelled value only on a line of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from mipro_core import Message

_HEADER = re.compile(r"^\[\[ ## (\w+) ## \]\]\s*$", re.MULTILINE)
_FIELD_DESC = re.compile(r"^\d+\. `(\w+)` \([^)]*\):[ \t]*(.*)$", re.MULTILINE)
_OBJECTIVE = "In adhering to this structure, your objective is:"
_JSON_OUTPUTS = "Outputs will be a JSON object"
_REMINDER = re.compile(
    r"\n*Respond with (?:the corresponding output fields|a JSON object).*\Z", re.DOTALL
)


def _field_section(text: str, start: str, stop: str) -> list[tuple[str, str]]:
    """``(name, description)`` of the numbered field lines between two headings."""
    i = text.find(start)
    if i < 0:
        return []
    j = text.find(stop, i + len(start))
    block = text[i + len(start) : j if j >= 0 else len(text)]
    return [(m.group(1), m.group(2).strip()) for m in _FIELD_DESC.finditer(block)]


def native_system(system: str) -> tuple[str, list[str]]:
    """An adapter's system message in the native layout, and its output field names."""
    inputs = _field_section(system, "Your input fields are:", "Your output fields are:")
    outputs = _field_section(system, "Your output fields are:", "All interactions will")
    i = system.find(_OBJECTIVE)
    objective = system[i + len(_OBJECTIVE) :] if i >= 0 else ""
    instruction = "\n".join(line.strip() for line in objective.strip().splitlines()).strip()
    lines = [instruction] if instruction else []
    lines.append("")
    lines.append("Input fields: " + ", ".join(name for name, _ in inputs))
    lines.append("Output fields: " + ", ".join(name for name, _ in outputs))
    lines.extend(f"- {name}: {desc}" for name, desc in (*inputs, *outputs) if desc)
    lines.append("")
    lines.append("Reply with exactly these lines:")
    lines.extend(f"{name}: <{name}>" for name, _ in outputs)
    return "\n".join(lines).strip(), [name for name, _ in outputs]


def _markdown(value: Any, level: int) -> str:
    """A JSON value as the ``gepa`` package's reflection prompt renders one."""
    if isinstance(value, dict):
        text = "".join(
            f"{'#' * level} {k}\n{_markdown(v, min(level + 1, 6))}" for k, v in value.items()
        )
        return text or "\n"
    if isinstance(value, list):
        items = enumerate(value, 1)
        text = "".join(
            f"{'#' * level} Item {i}\n{_markdown(v, min(level + 1, 6))}" for i, v in items
        )
        return text or "\n"
    return f"{str(value).strip()}\n\n"


def structured_value(value: str) -> str:
    """A JSON list of objects (or an object) as markdown examples; any other value unchanged."""
    if not value.startswith(("[", "{")):
        return value
    try:
        data = json.loads(value)
    except ValueError:
        return value
    records = data if isinstance(data, list) else [data]
    if not records or not all(isinstance(r, dict) for r in records):
        return value
    blocks = [
        f"# Example {i}\n" + "".join(f"## {k}\n{_markdown(v, 3)}" for k, v in r.items())
        for i, r in enumerate(records, 1)
    ]
    return "\n\n".join(blocks).strip()


def native_turn(content: str) -> str:
    """An adapter's user/assistant message as ``field: value`` lines."""
    content = _REMINDER.sub("", content)
    headers = list(_HEADER.finditer(content))
    if not headers:
        return content
    parts = [content[: headers[0].start()].strip()]
    for k, match in enumerate(headers):
        end = headers[k + 1].start() if k + 1 < len(headers) else len(content)
        name = match.group(1)
        if name == "completed":
            continue
        parts.append(f"{name}: {structured_value(content[match.end() : end].strip())}")
    return "\n".join(p for p in parts if p)


def to_native(messages: Sequence[dict[str, Any]]) -> tuple[list[Message], list[str], bool]:
    """DSPy adapter messages in the native format, the requested output fields, and whether
    the adapter wants a JSON object back (``JSONAdapter``)."""
    out: list[Message] = []
    fields: list[str] = []
    wants_json = False
    for message in messages:
        role = str(message.get("role", "user"))
        content = message.get("content", "")
        if not isinstance(content, str):  # OpenAI-style content parts
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        if role == "system":
            text, fields = native_system(content)
            wants_json = _JSON_OUTPUTS in content
            out.append({"role": "system", "content": text})
        else:
            text = native_turn(content)  # the adapters send only user and assistant turns
            if role == "assistant":
                out.append({"role": "assistant", "content": text})
            else:
                out.append({"role": "user", "content": text})
    return out, fields, wants_json


def reply_values(reply: str, fields: Sequence[str]) -> dict[str, str] | None:
    """The output fields of a native ``field: value`` reply (``None`` if one is missing)."""
    names = "|".join(re.escape(f) for f in fields)
    pattern = re.compile(rf"^\s*(?:\*\*)?({names})(?:\*\*)?\s*:\s*", re.IGNORECASE | re.MULTILINE)
    matches = list(pattern.finditer(reply))
    values: dict[str, str] = {}
    for k, match in enumerate(matches):
        end = matches[k + 1].start() if k + 1 < len(matches) else len(reply)
        name = next(f for f in fields if f.lower() == match.group(1).lower())
        values.setdefault(name, reply[match.end() : end].strip())
    if not values and len(fields) == 1 and reply.strip():
        values[fields[0]] = reply.strip()
    if any(f not in values for f in fields):
        return None
    return values


def to_chat_adapter(reply: str, fields: Sequence[str]) -> str:
    """A native ``field: value`` reply as ChatAdapter sections (unchanged if a field is missing)."""
    if not fields:
        return reply
    values = reply_values(reply, fields)
    if values is None:
        return reply
    sections = [f"[[ ## {f} ## ]]\n{values[f]}" for f in fields]
    return "\n\n".join([*sections, "[[ ## completed ## ]]"])


def to_json_adapter(reply: str, fields: Sequence[str]) -> str:
    """A native ``field: value`` reply as a JSON object (unchanged if a field is missing)."""
    if not fields:
        return reply
    values = reply_values(reply, fields)
    if values is None:
        return reply
    return json.dumps({f: values[f] for f in fields}, ensure_ascii=False)
