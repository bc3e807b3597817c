"""What every CLI run command shares: argument types, output, the run's progress display
(:class:`RunProgress`: stage lines and a live trial bar) and its closing summary
(:func:`summary_lines`: baseline vs best score, LM calls, time, what changed in each module, and
where the artifact and the journal are), and the journal metadata a CLI run records.

Journals written by ``mipro optimize`` remember how the run was started (the ``"cli"``
metadata: APP, metric and proposer specs, working directory, artifact path); ``mipro resume``
(:mod:`mipro_core._cli_resume`) shows them but imports only what the user names.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import shlex
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._progress import ConsoleProgress
from ._result import trial_kinds

if TYPE_CHECKING:
    from ._result import OptimizationResult

DEMO_META = "demo"
CLI_META = "cli"
"""Journal metadata written by ``mipro optimize``: how to rebuild the app, metric and proposer."""
FINISHED_META = "finished"
"""Journal metadata: when a CLI run completed (a finished journal may be replaced by a new run)."""


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


positive_int = whole_number(1)


# --- output ------------------------------------------------------------------------------------


def out(lines: Sequence[str] | str = "") -> None:
    """Write lines to standard output (the CLI's results; progress goes to standard error)."""
    text = lines if isinstance(lines, str) else "\n".join(lines)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def note(text: str) -> None:
    """One ``mipro: ...`` line on standard error (not an error: hints, interruptions)."""
    from ._printable import printable

    sys.stderr.write(f"mipro: {printable(text)}\n")
    sys.stderr.flush()


def quoted(path: str | Path) -> str:
    """``path`` as a shell word, for commands the user can copy."""
    return shlex.quote(str(path))


class RunProgress(ConsoleProgress):
    """The console display of a run, calling ``on_start()`` at the run's first event.

    The engine's first event comes after the journal was created, which is when the CLI
    records how to rebuild the run (so even a run killed early can be resumed by name).
    """

    def __init__(self, on_start: Callable[[], None] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_start = on_start

    def _started_once(self) -> None:
        if self._on_start is not None:
            callback, self._on_start = self._on_start, None
            callback()

    def stage(self, text: str) -> None:
        self._started_once()
        super().stage(text)

    def trials(self, done: int, total: int, best: float | None, lm_calls: int) -> None:
        self._started_once()
        super().trials(done, total, best, lm_calls)


def _score(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) else "-"


def _short(text: str, limit: int = 100) -> str:
    from ._printable import printable

    text = " ".join(printable(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary_lines(
    result: OptimizationResult,
    *,
    artifact: Path | None = None,
    journal: Path | None = None,
) -> list[str]:
    """The end-of-run summary: scores, spend, per-module changes, artifact and journal."""
    from ._printable import printable

    gain = result.best_score - result.baseline_score
    val = f", {result.estimate.val_size} examples" if result.estimate is not None else ""
    gain_text = f"{gain:+.3f}" if math.isfinite(gain) else "n/a"
    spend = (
        f"{result.lm_calls} (task {result.task_lm_calls}, proposer {result.proposer_lm_calls}), "
        f"~{result.prompt_tokens + result.completion_tokens} tokens"
    )
    if result.cost is not None:
        spend += f", cost {result.cost:.4f}"
    lines = [
        f"Result ({result.strategy}, seed {result.seed}, stopped: {result.stopped_reason})",
        f"  validation score  baseline {_score(result.baseline_score)} -> "
        f"best {_score(result.best_score)} ({gain_text}{val})",
        f"  LM calls          {spend}",
        f"  trials            {len(result.trials)} ({trial_kinds(result.trials)})",
        f"  time              {result.seconds:.1f}s",
        "",
    ]
    rows = [("module", "instruction", "demos", "credit (instruction / demos)")]
    changed: list[tuple[str, str]] = []
    credit = {c.module: c for c in result.credit}
    for name in result.state:
        before, after = result.initial_state.modules.get(name), result.state[name]
        is_new = before is None or before.instruction != after.instruction
        if is_new:
            changed.append((name, after.instruction))
        share = credit.get(name)
        rows.append(
            (
                printable(name),
                "changed" if is_new else "unchanged",
                f"{0 if before is None else len(before.demos)} -> {len(after.demos)}",
                "-"
                if share is None
                else f"{share.instruction_share:.0%} / {share.demos_share:.0%}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  " + "  ".join([*cells, row[3]]).rstrip())
    for name, instruction in changed:
        lines.append(f"  {printable(name)}: new instruction: {_short(instruction)}")
    lines.append("")
    if artifact is not None:
        lines.append(
            f"  artifact  {printable(str(artifact.resolve()))}  "
            f"(view: mipro show {quoted(artifact)})"
        )
    if journal is not None:
        lines.append(
            f"  journal   {printable(str(journal.resolve()))}  "
            f"(report: mipro report {quoted(journal)} --out report.html)"
        )
    return lines


def resume_hint(journal: Path | None, names: Sequence[str] = ()) -> str:
    """The line telling how to continue: ``names`` are the command line's own flags and specs
    (``--app myapp:build --metric ...``), which resume needs since it imports nothing a
    journal names."""
    if journal is None or not journal.exists():
        return "interrupted; no journal was kept, so the run cannot be resumed"
    command = " ".join(["mipro resume", quoted(journal), *(quoted(n) for n in names)])
    return f"interrupted; the journal {journal} keeps every finished step: continue the run with '{command}'"


def journal_run_id(journal: Path | None) -> str | None:
    """The run id a journal records (kept in the artifacts of its run), if any."""
    from ._journal import Journal
    from ._observers import RUN_ID_KEY

    if journal is None or not journal.exists():
        return None
    with Journal.open(journal) as store:
        found = store.meta(RUN_ID_KEY)
    return found if isinstance(found, str) else None


def save_artifact(result: OptimizationResult, path: str | Path, journal: Path | None) -> Path:
    """Write the artifact, marked with the journal's run id (so a resume knows it is its own)."""
    run_id = journal_run_id(journal)
    return result.save(path, metadata={"run_id": run_id} if run_id else None)


# --- journals ----------------------------------------------------------------------------------


def write_journal_meta(journal: Path, values: Mapping[str, Any]) -> None:
    from ._journal import Journal

    with Journal.open(journal) as store:
        for key, value in values.items():
            store.set_meta(key, value)


def mark_finished(journal: Path | None) -> None:
    if journal is not None and journal.exists():
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_journal_meta(journal, {FINISHED_META: now})


def journal_finished(journal: Path) -> bool:
    """Whether the CLI run recorded in ``journal`` completed (raises JournalError if unreadable)."""
    from ._journal import Journal

    with Journal.open(journal) as store:
        return store.meta(FINISHED_META) is not None


@contextlib.contextmanager
def import_path(*directories: str | Path) -> Iterator[None]:
    """Put ``directories`` at the front of ``sys.path`` for the block (user modules live there)."""
    import importlib

    added = [str(Path(d).resolve()) for d in directories]
    added = [d for d in dict.fromkeys(added) if d not in sys.path]
    sys.path[:0] = added
    importlib.invalidate_caches()
    try:
        yield
    finally:
        for directory in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(directory)
