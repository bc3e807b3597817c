"""``write_report``: a run's journal, artifact or result -> an HTML page and/or PNG figures."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .._errors import InvalidInputError
from .._files import write_atomic
from .._result import OptimizationResult

if TYPE_CHECKING:
    from ._data import ReportData

logger = logging.getLogger("mipro_core.report")


def load_report_data(source: str | os.PathLike[str] | OptimizationResult) -> ReportData:
    """What the report of ``source`` shows (a journal or artifact path, or a result)."""
    from ._data import from_result
    from ._load import load_source

    if isinstance(source, OptimizationResult):
        return from_result(source)
    return load_source(source)


def write_report(
    source: str | os.PathLike[str] | OptimizationResult,
    out: str | os.PathLike[str] | None,
    *,
    png_dir: str | os.PathLike[str] | None = None,
) -> tuple[Path, ...]:
    """Write the report of a run as one self-contained HTML file; returns the files written.

    ``source`` is a journal (``optimize(..., journal="run.db")``), an artifact
    (``result.save(...)``) or an :class:`~mipro_core.OptimizationResult`. The page shows the
    score trajectory (minibatch and full evaluations against trial number and LM calls spent),
    the per-module credit, each module's winning instruction with a diff against the original,
    the chosen demos and the run configuration. An artifact holds only the winning prompts and
    a few numbers, so its report shows just those. ``png_dir`` also writes the figures as PNG
    files there (``score_by_trial.png``, ``score_by_lm_calls.png``, ``credit.png``); ``out``
    may be ``None`` when only the PNGs are wanted.

    The files are only read (a journal is opened read-only, even while its run is going on).
    Raises :class:`~mipro_core.JournalError` / :class:`~mipro_core.ArtifactError` for a file that
    is not a readable journal or artifact, and :class:`~mipro_core.InvalidInputError` when there
    is nothing to write or when the plots need matplotlib (``pip install 'mipro-core[report]'``).
    """
    if out is None and png_dir is None:
        raise InvalidInputError(
            "nothing to write: pass an output file (--out report.html) or a PNG directory (--png DIR)"
        )
    if out is not None and not isinstance(source, OptimizationResult):
        target, origin = Path(out), Path(source)
        if target.exists() and origin.exists() and target.resolve() == origin.resolve():
            raise InvalidInputError(
                f"the report would overwrite its source {origin}: choose another --out"
            )
    if out is not None and not Path(out).parent.is_dir():
        raise InvalidInputError(
            f"cannot write {out}: the directory {Path(out).parent} does not exist"
        )
    from ._html import render_html
    from ._plots import render_figures

    data = load_report_data(source)
    figures = render_figures(data)
    written: list[Path] = []
    if out is not None:
        target = Path(out)
        write_atomic(target, render_html(data, figures).encode("utf-8"))
        written.append(target)
    if png_dir is not None:
        directory = Path(png_dir)
        directory.mkdir(parents=True, exist_ok=True)
        for name, png in figures.png.items():
            path = directory / f"{name}.png"
            write_atomic(path, png)
            written.append(path)
        if not figures.png:
            logger.warning("%s has no trials to plot: no PNG written", data.source)
    return tuple(written)
