"""Griffe extension: turn the Sphinx markup of mipro's docstrings into Markdown for mkdocstrings.

The docstrings are written for readers of the source and for ``help()``: Sphinx roles
(``:class:`~mipro_core.MiproError```) and reST literal blocks (a paragraph ending in ``::``).
Rendered as Markdown, roles would show their colons and backticks. This extension rewrites

* a role into an *optional* cross-reference: a link when the target is documented on the site,
  plain code otherwise (no strict-mode warning for targets outside the site, e.g. numpy);
* ``text::`` before an indented block into ``text:`` (the block stays an indented code block).

Relative targets (``:class:`Program```, ``:meth:`snapshot```) are looked up from the object
outwards (its class, its module and what the module imports, the enclosing packages); what is
not found is tried in the object's public package (``mipro_core`` for ``mipro_core._api``).
"""

from __future__ import annotations

import builtins
import html
import re
from collections.abc import Iterator
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|exc|mod|obj|const):`(?P<target>[^`]+)`")
LITERAL_INTRO = re.compile(r"(?m)(?P<text>\S)?(?P<space>[ \t]*)::[ \t]*$")


def _public_package(module_path: str) -> str:
    """The longest public prefix of ``module_path``: where its names are re-exported."""
    parts = []
    for part in module_path.split("."):
        if part.startswith("_"):
            break
        parts.append(part)
    return ".".join(parts)


def _lookup(obj: griffe.Object, target: str) -> str | None:
    """The canonical path of ``target`` as seen from ``obj`` (its class, module, packages)."""
    first, *rest = target.split(".")
    scope: griffe.Object | None = obj if (obj.is_class or obj.is_module) else obj.parent
    while scope is not None:
        member: griffe.Object | griffe.Alias | None = scope.members.get(first)
        if member is not None:
            try:
                for part in rest:
                    member = member.members[part]
                return member.target_path if isinstance(member, griffe.Alias) else member.path
            except Exception:  # an unresolvable import (stdlib, third party) or a missing member
                return None
        scope = scope.parent
    return None


def _identifier(obj: griffe.Object, target: str) -> str:
    if target.startswith("mipro_core") or target in vars(builtins):
        return target
    found = _lookup(obj, target)
    if found is not None:
        return found
    if "." in target:  # an absolute path elsewhere (numpy, argparse, ...)
        return target
    return f"{_public_package(obj.module.path)}.{target}"


def _role(match: re.Match[str], obj: griffe.Object) -> str:
    target = match["target"].strip()
    title = target
    if target.startswith("~"):
        target = target[1:]
        title = target.rsplit(".", 1)[-1]
    if "<" in target and target.endswith(">"):  # :class:`title <target>`
        title, _, target = target[:-1].partition("<")
        title, target = title.strip(), target.strip()
    identifier = _identifier(obj, target.rstrip("()"))
    return (
        f'<autoref identifier="{html.escape(identifier)}" optional>'
        f"<code>{html.escape(title)}</code></autoref>"
    )


def _literal_intro(match: re.Match[str]) -> str:
    if not match["text"]:  # a lone "::" line
        return ""
    return match["text"] if match["space"] else f"{match['text']}:"


def convert(text: str, obj: griffe.Object) -> str:
    """``text`` with Sphinx roles and literal-block markers rewritten (see the module docstring)."""
    text = ROLE.sub(lambda m: _role(m, obj), text)
    return LITERAL_INTRO.sub(_literal_intro, text)


def _walk(obj: griffe.Object) -> Iterator[griffe.Object]:
    yield obj
    for member in obj.members.values():
        if isinstance(member, griffe.Alias):
            continue
        yield from _walk(member)


class SphinxMarkup(griffe.Extension):
    """Rewrite every docstring once the whole package is loaded (so names can be looked up)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = convert(obj.docstring.value, obj)
