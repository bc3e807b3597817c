"""Progress reporting: the engine emits events, a reporter renders them (the CLI draws a bar).

The engine calls ``stage(text)`` when a phase starts and ``trials(done, total, best, lm_calls)``
after each batch of search trials; ``close()`` ends the display. :class:`LogProgress` sends the
events to the ``mipro_core`` logger (library default); :class:`ConsoleProgress` draws them.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from typing import Protocol, TextIO

logger = logging.getLogger("mipro_core")

PLAIN_INTERVAL = 5.0
"""Seconds between two trial lines when the stream is not a terminal (the last is always shown)."""


class Progress(Protocol):
    def stage(self, text: str) -> None: ...

    def trials(self, done: int, total: int, best: float | None, lm_calls: int) -> None: ...

    def close(self) -> None: ...


class LogProgress:
    """Reports through the ``mipro_core`` logger (INFO); the default for library use."""

    def stage(self, text: str) -> None:
        logger.info(text)

    def trials(self, done: int, total: int, best: float | None, lm_calls: int) -> None:
        best_text = "-" if best is None else f"{best:.3f}"
        logger.info("trial %d/%d  best %s  LM calls %d", done, total, best_text, lm_calls)

    def close(self) -> None:
        pass


def trial_line(
    done: int, total: int, best: float | None, lm_calls: int, seconds: float, width: int = 30
) -> str:
    """``[#####-----] trial 3/12  best 0.700  LM calls 140  12s``."""
    filled = min(width, int(width * done / max(total, 1)))
    bar = "#" * filled + "-" * (width - filled)
    best_text = "-" if best is None else f"{best:.3f}"
    return f"[{bar}] trial {done}/{total}  best {best_text}  LM calls {lm_calls}  {seconds:.0f}s"


class ConsoleProgress:
    """Stage lines and a trial bar on ``stream`` (default: standard error).

    On a terminal the trial bar is one live line, redrawn in place and cut to the terminal
    width; otherwise (a log file, CI) each update is a plain line, at most one every
    :data:`PLAIN_INTERVAL` seconds plus the last one. ``live`` forces either mode.
    """

    def __init__(
        self, stream: TextIO | None = None, width: int = 30, *, live: bool | None = None
    ) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.live = _isatty(self.stream) if live is None else live
        self._started = time.monotonic()
        self._last_line = float("-inf")
        self._open = False

    def _clear(self) -> None:
        if self._open:
            self.stream.write("\n")
            self._open = False

    def stage(self, text: str) -> None:
        self._clear()
        self.stream.write(f"[mipro] {text}\n")
        self.stream.flush()

    def trials(self, done: int, total: int, best: float | None, lm_calls: int) -> None:
        now = time.monotonic()
        if not self.live and done < total and now - self._last_line < PLAIN_INTERVAL:
            return
        self._last_line = now
        line = "[mipro] " + trial_line(done, total, best, lm_calls, now - self._started, self.width)
        if self.live:
            columns = shutil.get_terminal_size((100, 24)).columns
            line = line[: max(columns - 1, 20)]  # a wrapped line cannot be redrawn in place
            self.stream.write("\r" + line + "\x1b[K")
            self._open = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        self._clear()


def _isatty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed stream
        return False
