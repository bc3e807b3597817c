"""Sample outputs in the docs are the real outputs of the code above them.

``tests/_snippet_runner.py`` runs every guide page; this module holds what it needs to compare
the output a page *shows* with the output its code *prints*, and to rewrite the shown output
from a real run (``python tests/_snippet_runner.py --update``).

Where a page shows output:

* in a ```` ```console ```` block, the lines after a ``$ command`` are that command's standard
  output (a command followed by no lines shows nothing, and nothing is checked);
* in a block with ``<!-- output -->`` on the line directly above its fence: the output of the
  nearest block above it that runs (a Python block, a script, or the last command of a console
  block). Options: ``stream="stderr"`` shows standard error instead of standard output;
  ``stream="both"`` (Python blocks) both, in the order they were written; ``terminal`` (Python
  blocks) makes ``sys.stdout``/``sys.stderr`` say they are a terminal while the block runs, so
  a progress bar is drawn as a user sees it.

Outputs are compared as a terminal displays them (carriage returns and line erasures applied).

An excerpt is written with elision lines: a line that is ``...`` or ``... (a note)``. The lines
before the first elision are the first lines of the output, the lines after the last one its
last lines, and lines between two elisions appear in that order somewhere in between (an
elision may stand for no line at all).

Before comparing, both sides are masked (:data:`MASKS`: timings, rates, dates, version numbers,
runs of padding spaces), and the run's working directory is written as :data:`PROJECT_DIR`.
"""

from __future__ import annotations

import difflib
import io
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = "/home/you/project"
STREAMS = frozenset({"stdout", "stderr", "both"})

OUTPUT_MARKER = re.compile(r"^\s*<!--\s*output(?::(?P<options>[^>]*?))?\s*-->\s*$")
_OPTION = re.compile(r'\s*(?P<key>[a-z]+)(?:="(?P<value>[^"]*)")?\s*')

# Parts of an output that differ from run to run (or machine to machine), replaced on both
# sides before comparing. Order matters: rates and dates before bare durations.
MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\s+\d+(?:\.\d+)? calls/s"), ""),  # shown only once a second has passed
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?: ?UTC|Z)?"), "<date>"),
    (re.compile(r"\b\d+\.\d+\.\d+[\w.+-]*"), "<version>"),
    (re.compile(r"\b\d+h\d{2}m\b|\b\d+m\d{2}s\b|\b\d+(?:\.\d+)?(?:ms|s)\b"), "<time>"),
    (re.compile(r"(?<=\S) {2,}"), "  "),  # column padding follows the masked widths
)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_TERMINAL_TOKEN = re.compile(r"(\r|\x1b\[K)")


@dataclass(frozen=True)
class OutputSpec:
    """The options of an ``<!-- output -->`` marker."""

    stream: str = "stdout"
    terminal: bool = False


def parse_marker(line: str) -> OutputSpec | None:
    """The spec of an ``<!-- output ... -->`` line, None when ``line`` is not one.

    Raises ValueError on an unknown option, so a typo cannot silently turn a check off.
    """
    match = OUTPUT_MARKER.match(line)
    if not match:
        return None
    options = (match["options"] or "").strip()
    stream, terminal, position = "stdout", False, 0
    while position < len(options):
        option = _OPTION.match(options, position)
        if not option or option.end() == position:
            raise ValueError(f"malformed output marker options: {options!r}")
        key, value = option["key"], option["value"]
        if key == "stream" and value in STREAMS:
            stream = value
        elif key == "terminal" and value is None:
            terminal = True
        else:
            raise ValueError(
                f"unknown output marker option {option.group().strip()!r} "
                '(known: stream="stdout"|"stderr"|"both", terminal)'
            )
        position = option.end()
    return OutputSpec(stream, terminal)


def render_terminal(text: str) -> str:
    """What a terminal shows after ``text`` was written to it: ``\\r`` returns to the start
    of the line, ``ESC[K`` erases to its end, other escape sequences (colours) show nothing."""
    lines = []
    for raw in text.split("\n"):
        cells: list[str] = []
        column = 0
        for token in _TERMINAL_TOKEN.split(raw):
            if token == "\r":
                column = 0
            elif token == "\x1b[K":
                del cells[column:]
            elif token:
                token = _ANSI.sub("", token)
                cells[column : column + len(token)] = list(token)
                column += len(token)
        lines.append("".join(cells))
    return "\n".join(lines)


def real_lines(text: str, workdir: str | None = None) -> list[str]:
    """``text`` as the lines a page shows: as a terminal displays it, the working directory
    written as :data:`PROJECT_DIR`, trailing spaces and trailing blank lines removed."""
    if workdir:
        text = text.replace(workdir, PROJECT_DIR)
    lines = [line.rstrip() for line in render_terminal(text).split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def mask(line: str) -> str:
    for pattern, replacement in MASKS:
        line = pattern.sub(replacement, line)
    return line.rstrip()


def is_elision(line: str) -> bool:
    stripped = line.strip()
    return stripped == "..." or (stripped.startswith("... (") and stripped.endswith(")"))


def _segments(shown: list[str]) -> tuple[list[list[str]], list[str]]:
    segments: list[list[str]] = [[]]
    elisions: list[str] = []
    for line in shown:
        if is_elision(line):
            elisions.append(line)
            segments.append([])
        else:
            segments[-1].append(line)
    return segments, elisions


def _find(needle: list[str], haystack: list[str], start: int, stop: int) -> int | None:
    """Where the masked lines ``needle`` first occur in ``haystack[start:stop]``."""
    for index in range(start, stop - len(needle) + 1):
        if haystack[index : index + len(needle)] == needle:
            return index
    return None


def excerpt(shown: list[str], real: list[str]) -> list[str]:
    """The lines of ``real`` that ``shown`` stands for, with ``shown``'s elision lines.

    Without elisions that is all of ``real``. With them: as many first lines as ``shown``
    starts with, as many last lines as it ends with, and each segment between two elisions
    where it occurs in between (found by its masked text, else by its masked first line; a
    segment found nowhere is left out, so the comparison fails).
    """
    while shown and not shown[-1].strip():
        shown = shown[:-1]
    segments, elisions = _segments(shown)
    if not elisions:
        return list(real)
    head, middle, tail = segments[0], segments[1:-1], segments[-1]
    if len(head) + len(tail) > len(real):
        return list(real)
    masked = [mask(line) for line in real]
    result = list(real[: len(head)])
    position, stop = len(head), len(real) - len(tail)
    for elision, segment in zip(elisions, middle, strict=False):
        result.append(elision)
        wanted = [mask(line) for line in segment]
        found = _find(wanted, masked, position, stop) if segment else position
        if found is None and segment:
            found = _find(wanted[:1], masked, position, stop - len(segment) + 1)
        if found is None:  # shown lines the run did not print: left out, so the check fails
            continue
        result.extend(real[found : found + len(segment)])
        position = found + len(segment)
    result.append(elisions[-1])
    result.extend(real[stop:])
    return result


def compare(shown: list[str], real: list[str]) -> tuple[list[str], str | None]:
    """(the excerpt of ``real`` to show, a diff when ``shown`` is not that excerpt, else None)."""
    expected = excerpt(shown, real)
    trimmed = list(shown)
    while trimmed and not trimmed[-1].strip():
        trimmed.pop()
    if [mask(line) for line in trimmed] == [mask(line) for line in expected]:
        return expected, None
    diff = difflib.unified_diff(
        [line.rstrip() for line in trimmed],
        expected,
        "shown in the page",
        "printed by the run",
        lineterm="",
        n=2,
    )
    return expected, "\n".join(diff)


class Capture(io.TextIOBase):
    """A standard stream that records what is written and passes it on; ``terminal`` makes
    it say it is a terminal (``isatty()``), as the user's would be."""

    def __init__(self, echo: Any, terminal: bool, both: list[str]) -> None:
        self._echo, self._terminal, self._parts, self._both = echo, terminal, list[str](), both

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def write(self, text: str) -> int:
        self._parts.append(text)
        self._both.append(text)
        self._echo.write(text)
        return len(text)

    def flush(self) -> None:
        self._echo.flush()

    def isatty(self) -> bool:
        return self._terminal

    def writable(self) -> bool:
        return True

    def getvalue(self) -> str:
        return "".join(self._parts)


def rewrite_blocks(page: Path, changes: Sequence[tuple[Any, list[str]]]) -> None:
    """Replace the lines between the fences of each block (a runner ``Block``) of ``page``."""
    lines = page.read_text(encoding="utf-8").split("\n")
    for block, body in sorted(changes, key=lambda change: -change[0].line):
        pad = " " * block.indent
        lines[block.line : block.line + block.length] = [pad + x if x else x for x in body]
    page.write_text("\n".join(lines), encoding="utf-8")


def update(runner: Path, pages: list[Path]) -> int:
    """Run each page in a fresh directory and rewrite the outputs it shows from the run."""
    status = 0
    for page in pages:
        with tempfile.TemporaryDirectory(prefix="mipro-docs-") as tmp:
            report = Path(tmp) / "report.json"
            argv = [sys.executable, str(runner), "--write", str(page), f"{tmp}/work", str(report)]
            completed = subprocess.run(argv, capture_output=True, text=True, check=False)
            outcomes = json.loads(report.read_text(encoding="utf-8")) if report.exists() else []
        rewritten = [o["line"] for o in outcomes if o["status"] == "mismatch"]
        broken = [o for o in outcomes if o["status"] == "failed"]
        sys.stdout.write(f"{page}: {len(rewritten)} block(s) rewritten {rewritten}\n")
        if broken or completed.returncode not in {0, 1}:
            status = 1
            detail = broken[0]["error"] if broken else completed.stdout + completed.stderr
            sys.stdout.write(f"{page}: a block failed, later outputs not updated:\n{detail}\n")
    return status
