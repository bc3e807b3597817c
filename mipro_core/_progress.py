"""Progress reporting: the engine emits events, a reporter renders them (the CLI draws a bar).

The engine calls ``stage(text)`` when a phase starts and ``trials(done, total, best, lm_calls)``
after each batch of search trials; ``close()`` ends the display. :class:`ConsoleProgress` draws
them (with the LM calls per second and, once trials run, an estimate of the time left);
:class:`LogProgress` sends them to the ``mipro_core`` logger. :func:`default_progress` picks the
library default: the console display when standard error is a terminal, logging otherwise (as
tqdm-style tools do: a notebook or shell user sees progress, a batch job's log is not flooded).
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from collections.abc import Callable
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
    done: int,
    total: int,
    best: float | None,
    lm_calls: int,
    seconds: float,
    width: int = 30,
    *,
    eta: float | None = None,
) -> str:
    """``[#####-----] trial 3/12  best 0.700  LM calls 140  12s  11.7 calls/s  ~1m05s left``.

    The rate is shown once a second has passed; ``eta`` (seconds) when given.
    """
    filled = min(width, int(width * done / max(total, 1)))
    bar = "#" * filled + "-" * (width - filled)
    best_text = "-" if best is None else f"{best:.3f}"
    line = f"[{bar}] trial {done}/{total}  best {best_text}  LM calls {lm_calls}  {seconds:.0f}s"
    if seconds >= 1:
        line += f"  {lm_calls / seconds:.1f} calls/s"
    if eta is not None:
        line += f"  ~{duration(eta)} left"
    return line


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


class ConsoleProgress:
    """Stage lines and a trial bar on ``stream`` (default: standard error).

    On a terminal the trial bar is one live line, redrawn in place and cut to the terminal
    width; otherwise (a log file, CI) each update is a plain line, at most one every
    :data:`PLAIN_INTERVAL` seconds plus the last one. ``live`` forces either mode.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        width: int = 20,
        *,
        live: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.live = _isatty(self.stream) if live is None else live
        self._clock = clock
        self._started = clock()
        self._last_line = float("-inf")
        self._open = False
        self._first_trials: tuple[float, int] | None = None

    def _clear(self) -> None:
        if self._open:
            self.stream.write("\n")
            self._open = False

    def stage(self, text: str) -> None:
        self._clear()
        self.stream.write(f"[mipro] {text}\n")
        self.stream.flush()

    def trials(self, done: int, total: int, best: float | None, lm_calls: int) -> None:
        now = self._clock()
        if self._first_trials is None:
            self._first_trials = (now, done)
        if not self.live and done < total and now - self._last_line < PLAIN_INTERVAL:
            return
        self._last_line = now
        line = "[mipro] " + trial_line(
            done,
            total,
            best,
            lm_calls,
            now - self._started,
            self.width,
            eta=self._eta(now, done, total),
        )
        if self.live:
            columns = shutil.get_terminal_size((100, 24)).columns
            line = line[: max(columns - 1, 20)]  # a wrapped line cannot be redrawn in place
            self.stream.write("\r" + line + "\x1b[K")
            self._open = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _eta(self, now: float, done: int, total: int) -> float | None:
        """Seconds left at the pace of the trials seen so far (none before two trial events)."""
        if self._first_trials is None or done >= total:
            return None
        start, first_done = self._first_trials
        if done <= first_done:
            return None
        return (now - start) / (done - first_done) * (total - done)

    def close(self) -> None:
        self._clear()


def default_progress(stream: TextIO | None = None) -> Progress:
    """The console display when ``stream`` (default: standard error) is a terminal, else
    logging through the ``mipro_core`` logger."""
    stream = stream or sys.stderr
    return ConsoleProgress(stream) if _isatty(stream) else LogProgress()


def _isatty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed stream
        return False
