"""How the native program renders a stage as chat messages and parses the model's answer.

The format is plain ``field: value`` lines, which every chat model can follow and every human can
read. Adapters for other frameworks keep their framework's own prompt format instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import ParseError
from ._protocols import Message
from ._types import Demo, Signature


def format_fields(values: Mapping[str, Any], fields: Sequence[str]) -> str:
    """Render ``values`` as ``field: value`` lines in the order of ``fields``."""
    return "\n".join(f"{field}: {values.get(field, '')}" for field in fields)


def system_text(signature: Signature, instruction: str) -> str:
    lines = [instruction.strip()] if instruction.strip() else []
    lines.append("")
    lines.append("Input fields: " + ", ".join(signature.inputs))
    lines.append("Output fields: " + ", ".join(signature.outputs))
    for field in (*signature.inputs, *signature.outputs):
        if field in signature.descriptions:
            lines.append(f"- {field}: {signature.descriptions[field]}")
    lines.append("")
    lines.append("Reply with exactly these lines:")
    lines.extend(f"{field}: <{field}>" for field in signature.outputs)
    return "\n".join(lines).strip()


def render_messages(
    signature: Signature, instruction: str, demos: Sequence[Demo], inputs: Mapping[str, Any]
) -> list[Message]:
    """The chat messages for one call: system instruction, demo pairs, then the live inputs."""
    messages: list[Message] = [{"role": "system", "content": system_text(signature, instruction)}]
    for demo in demos:
        messages.append({"role": "user", "content": format_fields(demo.inputs, signature.inputs)})
        messages.append(
            {"role": "assistant", "content": format_fields(demo.outputs, signature.outputs)}
        )
    messages.append({"role": "user", "content": format_fields(inputs, signature.inputs)})
    return messages


def parse_fields(text: str, output_fields: Sequence[str]) -> dict[str, str]:
    """Parse ``field: value`` lines (values may span lines) into the output fields.

    A single-output signature also accepts a bare answer with no label. Raises
    :class:`ParseError` when a field is missing.
    """
    if not isinstance(text, str):
        raise ParseError(f"model returned {type(text).__name__}, expected text")
    names = "|".join(re.escape(f) for f in output_fields)
    pattern = re.compile(rf"^\s*(?:\*\*)?({names})(?:\*\*)?\s*:\s*", re.IGNORECASE | re.MULTILINE)
    matches = list(pattern.finditer(text))
    values: dict[str, str] = {}
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        field = next(f for f in output_fields if f.lower() == match.group(1).lower())
        values.setdefault(field, text[match.end() : end].strip())
    if not values and len(output_fields) == 1 and text.strip():
        values[output_fields[0]] = text.strip()
    missing = [f for f in output_fields if f not in values]
    if missing:
        snippet = text.strip().replace("\n", " ")[:120]
        raise ParseError(f"answer lacks field(s) {', '.join(missing)}: {snippet!r}")
    return values
