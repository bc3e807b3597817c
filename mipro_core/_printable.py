"""Escaping untrusted text for terminals and reports (artifact content is untrusted)."""

from __future__ import annotations

import unicodedata

_BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))


def printable(text: str) -> str:
    """``text`` with control characters escaped (except newline and tab).

    Artifact content is untrusted: escape sequences or bidirectional overrides must not reach
    the terminal as commands.
    """
    out = []
    for char in text:
        if char in "\n\t" or (
            unicodedata.category(char) not in ("Cc", "Cs") and char not in _BIDI_CONTROLS
        ):
            out.append(char)
        else:
            out.append(char.encode("unicode_escape", "backslashreplace").decode("ascii"))
    return "".join(out)
