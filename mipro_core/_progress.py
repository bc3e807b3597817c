"""Progress reporting: the engine emits events, a reporter renders them (the CLI draws a bar)."""

from __future__ import annotations

import logging
import sys
import time
from typing import Protocol, TextIO

logger = logging.getLogger("mipro_core")


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


class ConsoleProgress:
    """A one-line live progress bar on a terminal (plain lines when not a terminal)."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.live = self.stream.isatty()
        self._started = time.monotonic()
        self._last_line = 0.0
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
        if not self.live and done < total and now - self._last_line < 5.0:
            return
        self._last_line = now
        filled = int(self.width * done / max(total, 1))
        bar = "#" * filled + "-" * (self.width - filled)
        best_text = "-" if best is None else f"{best:.3f}"
        line = (
            f"[mipro] [{bar}] trial {done}/{total}  best {best_text}  "
            f"LM calls {lm_calls}  {now - self._started:.0f}s"
        )
        if self.live:
            self.stream.write("\r" + line)
            self._open = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        self._clear()
