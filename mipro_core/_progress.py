"""Progress reporting: the engine emits events, a reporter renders them (the CLI draws a bar).

The engine calls ``stage(text)`` when a phase starts and ``trials(done, total, best, lm_calls)``
after each batch of search trials; ``close()`` ends the display. :class:`ConsoleProgress` draws
them (with the LM calls per second and, once trials run, an estimate of the time left);
:class:`LogProgress` sends the same lines to the ``mipro_core`` logger. The estimate is the
soonest of the trial count's end, the call cap's and the time limit's (:func:`time_left`);
:func:`tell_limits` gives a reporter the run's ``max_lm_calls`` and ``max_seconds``.
:func:`default_progress` picks the library default: the console display when standard error is
a terminal, logging otherwise (as tqdm-style tools do: a notebook or shell user sees progress, a
batch job's log is not flooded).
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


def time_left(
    now: float,
    first: tuple[float, int, int] | None,
    done: int,
    total: int,
    lm_calls: int,
    *,
    max_lm_calls: int | None = None,
    deadline: float | None = None,
) -> float | None:
    """Seconds until the run ends: the soonest of the trials' end at their pace, the call
    cap's at the calls' pace and the deadline (``max_seconds`` as a clock value).

    ``first`` is ``(time, trials done, LM calls)`` at the first trial event: both paces are
    measured from there (the search's pace, not the proposer's before it). ``None`` when
    nothing can be said yet, or the trials are all done.
    """
    if done >= total:
        return None
    estimates: list[float] = []
    if deadline is not None:
        estimates.append(max(0.0, deadline - now))
    if first is not None and now > first[0]:
        start, first_done, first_calls = first
        if done > first_done:
            estimates.append((now - start) / (done - first_done) * (total - done))
        if max_lm_calls is not None and lm_calls > first_calls:
            rate = (lm_calls - first_calls) / (now - start)
            estimates.append(max(0, max_lm_calls - lm_calls) / rate)
    return min(estimates) if estimates else None


class _Pace:
    """What a reporter needs for the rate and the estimate: a clock, when it started, the
    first trial event and the run's limits."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.started = clock()
        self.first: tuple[float, int, int] | None = None
        self.max_lm_calls: int | None = None
        self.deadline: float | None = None

    def limit(self, max_lm_calls: int | None, max_seconds: float | None) -> None:
        self.max_lm_calls = max_lm_calls
        self.deadline = None if max_seconds is None else self.clock() + max_seconds

    def seen(self, now: float, done: int, lm_calls: int) -> None:
        if self.first is None:
            self.first = (now, done, lm_calls)

    def left(self, now: float, done: int, total: int, lm_calls: int) -> float | None:
        return time_left(
            now,
            self.first,
            done,
            total,
            lm_calls,
            max_lm_calls=self.max_lm_calls,
            deadline=self.deadline,
        )


class LogProgress:
    """Reports through the ``mipro_core`` logger (INFO); the default for library use. Trial
    lines carry the LM calls per second and the estimated time left, like the console's."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._pace = _Pace(clock)

    def limits(self, *, max_lm_calls: int | None, max_seconds: float | None) -> None:
        """The run's call cap and time limit (from now), for the estimate."""
        self._pace.limit(max_lm_calls, max_seconds)

    def stage(self, text: str) -> None:
        logger.info(text)

    def trials(self, done: int, total: int, best: float | None, lm_calls: int) -> None:
        pace = self._pace
        now = pace.clock()
        pace.seen(now, done, lm_calls)
        eta = pace.left(now, done, total, lm_calls)
        logger.info("%s", trial_line(done, total, best, lm_calls, now - pace.started, 0, eta=eta))

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

    The rate is shown once a second has passed; ``eta`` (seconds) when given; ``width=0``
    leaves out the bar.
    """
    filled = min(width, int(width * done / max(total, 1)))
    bar = f"[{'#' * filled}{'-' * (width - filled)}] " if width > 0 else ""
    best_text = "-" if best is None else f"{best:.3f}"
    line = f"{bar}trial {done}/{total}  best {best_text}  LM calls {lm_calls}  {seconds:.0f}s"
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
        self._pace = _Pace(clock)
        self._last_line = float("-inf")
        self._open = False

    def limits(self, *, max_lm_calls: int | None, max_seconds: float | None) -> None:
        """The run's call cap and time limit (from now), for the estimate."""
        self._pace.limit(max_lm_calls, max_seconds)

    def _clear(self) -> None:
        if self._open:
            self.stream.write("\n")
            self._open = False

    def stage(self, text: str) -> None:
        self._clear()
        self.stream.write(f"[mipro] {text}\n")
        self.stream.flush()

    def trials(self, done: int, total: int, best: float | None, lm_calls: int) -> None:
        pace = self._pace
        now = pace.clock()
        pace.seen(now, done, lm_calls)
        if not self.live and done < total and now - self._last_line < PLAIN_INTERVAL:
            return
        self._last_line = now
        line = "[mipro] " + trial_line(
            done,
            total,
            best,
            lm_calls,
            now - pace.started,
            self.width,
            eta=pace.left(now, done, total, lm_calls),
        )
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


def tell_limits(progress: Progress, *, max_lm_calls: int | None, max_seconds: float | None) -> None:
    """Give mipro's own reporters the run's call cap and time limit, just before it starts
    (a reporter of yours only implements :class:`Progress` and is left alone)."""
    if isinstance(progress, (ConsoleProgress, LogProgress)):
        progress.limits(max_lm_calls=max_lm_calls, max_seconds=max_seconds)


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
