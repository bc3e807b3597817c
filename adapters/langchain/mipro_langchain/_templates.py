"""Template-text helpers: escaping literal text, splitting off a template's preface, rendering.

Supports the three LangChain template formats: ``f-string`` (default), ``mustache`` and ``jinja2``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from langchain_core.prompts.string import DEFAULT_FORMATTER_MAPPING, get_template_variables

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_MUSTACHE_DELIMITERS = (("<%", "%>"), ("<<<", ">>>"), ("[[[", "]]]"), ("@@(", ")@@"))


def escape(text: str, template_format: str) -> str:
    """``text`` written so the template engine renders it literally (braces never interpreted)."""
    if template_format == "f-string":
        return text.replace("{", "{{").replace("}", "}}")
    if template_format == "jinja2":
        return "".join('{{ "{" }}' if c == "{" else '{{ "}" }}' if c == "}" else c for c in text)
    if template_format == "mustache":
        if "{{" not in text and "}}" not in text:
            return text
        left, right = _mustache_delimiters(text)
        return "{{=" + left + " " + right + "=}}" + text + left + "={{ }}=" + right
    raise ValueError(f"unsupported template format {template_format!r}")


def _mustache_delimiters(text: str) -> tuple[str, str]:
    """Mustache delimiters that do not occur in ``text`` (there always are some)."""
    for left, right in _MUSTACHE_DELIMITERS:
        if left not in text and right not in text:
            return left, right
    longest = max((len(run) for run in re.findall(r"#+", text)), default=0)
    marks = "#" * (longest + 1)  # a run of marks longer than any in the text
    return f"<{marks}", f"{marks}>"


def variables(template: str, template_format: str) -> set[str]:
    return set(get_template_variables(template, template_format))


def render(template: str, template_format: str, values: Mapping[str, Any]) -> str:
    """Render ``template`` with ``values``; variables without a value render as empty text."""
    filled = {name: "" for name in variables(template, template_format)}
    filled.update({k: v for k, v in values.items() if k in filled})
    result: str = DEFAULT_FORMATTER_MAPPING[template_format](template, **filled)
    return result


_SYNTAX = {"jinja2": re.compile(r"\{\{|\{%|\{#"), "mustache": re.compile(r"\{\{")}
"""Template syntax of the formats whose literal text can hold a lone brace."""


def _is_literal(text: str, template_format: str) -> bool:
    """Whether ``text`` uses no template syntax at all (it renders as itself)."""
    syntax = _SYNTAX.get(template_format)
    if syntax is None:  # f-string: literal unless it names a variable
        return not variables(text, template_format)
    return syntax.search(text) is None


def split_preface(template: str, template_format: str) -> tuple[str, str]:
    """Split ``template`` into (preface, body).

    The preface is the run of leading paragraphs that mention no template variable (for
    jinja2/mustache: that use no template syntax at all, so a control block is never cut): that
    is the text an instruction replaces. The body is kept verbatim.
    """
    if not variables(template, template_format):
        return template, ""
    end = 0
    for match in _PARAGRAPH_BREAK.finditer(template):
        if not _is_literal(template[: match.start()], template_format):
            break
        end = match.start()
    if end == 0:
        return "", template
    rest_start = next(m.end() for m in _PARAGRAPH_BREAK.finditer(template) if m.start() == end)
    return template[:end], template[rest_start:]


def literal_text(template: str, template_format: str) -> str:
    """The text a variable-free template renders to."""
    return render(template, template_format, {})


def join_paragraphs(*parts: str) -> str:
    return "\n\n".join(p for p in parts if p)


def pretty_text(prompt: Any) -> str:
    """A prompt as text for the proposer: LangChain's ``pretty_repr``, part by part when a part
    has none (a ``FewShotChatMessagePromptTemplate`` raises ``NotImplementedError``: its
    examples are shown as messages instead)."""
    try:
        return str(prompt.pretty_repr())
    except Exception:  # a part without a pretty form: render the parts one by one
        pass
    parts = getattr(prompt, "messages", None)
    if not isinstance(parts, list):
        return repr(prompt)
    return "\n\n".join(_pretty_part(part) for part in parts)


def _pretty_part(part: Any) -> str:
    try:
        return str(part.pretty_repr())
    except Exception:  # few-shot examples: their messages (static examples need no input)
        pass
    try:
        return "\n\n".join(str(m.pretty_repr()) for m in part.format_messages())
    except Exception:  # examples chosen by a selector at call time: name the part only
        return f"<{type(part).__name__}>"
