"""Untrusted text as HTML, and how two instructions are compared on the report page.

A small edit reads best as a word-level diff; a rewritten instruction (most words changed) as the
two texts side by side.
"""

from __future__ import annotations

import difflib
import html
import re
from typing import Any

from .._printable import printable
from ._data import display_value

_TOKENS = re.compile(r"\s+|\S+")


def esc(text: Any) -> str:
    """Untrusted text as HTML: control characters escaped visibly, markup escaped."""
    return html.escape(
        printable(text if isinstance(text, str) else display_value(text)), quote=True
    )


REWRITTEN = 0.5
"""Above this share of changed words a diff is unreadable: the texts are shown side by side."""


def changed_share(old: str, new: str) -> float:
    """The share of words (of the longer text) that a word-level diff marks as changed."""
    a, b = old.split(), new.split()
    if not a and not b:
        return 0.0
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    kept = sum(block.size for block in matcher.get_matching_blocks())
    return 1.0 - kept / max(len(a), len(b))


def side_by_side_html(old: str, new: str) -> str:
    return (
        f'<div class="side"><div><strong>original</strong><pre class="original">{esc(old)}</pre>'
        f'</div><div><strong>winning</strong><pre class="winning">{esc(new)}</pre></div></div>'
    )


def diff_html(old: str, new: str) -> str:
    """A word-level diff of two texts: removed words in ``<del>``, added words in ``<ins>``."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    parts: list[str] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            parts.append(esc("".join(a[i1:i2])))
            continue
        if i2 > i1:
            parts.append(f"<del>{esc(''.join(a[i1:i2]))}</del>")
        if j2 > j1:
            parts.append(f"<ins>{esc(''.join(b[j1:j2]))}</ins>")
    return "".join(parts)
