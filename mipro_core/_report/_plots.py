"""The report's figures, drawn with matplotlib (the optional extra ``mipro-core[report]``).

matplotlib is imported on first use only, and never through ``pyplot``: each figure is a bare
:class:`matplotlib.figure.Figure` rendered by the Agg canvas, so no global backend or GUI state
is touched and nothing else in the process is affected. PNGs are written without a timestamp or
software tag, so the same data gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from .._errors import InvalidInputError
from .._printable import printable
from ._data import ReportData

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

INSTALL_HINT = "install mipro-core[report] (pip install 'mipro-core[report]')"
_MINIBATCH, _FULL, _BEST, _BASELINE = "#8a9bb0", "#d1495b", "#00798c", "#6c757d"
_INSTRUCTION, _DEMOS = "#30638e", "#edae49"


@attrs.frozen
class Figures:
    """Rendered figures as PNG bytes, by file stem (``score_by_trial`` ...), with their titles."""

    png: dict[str, bytes]
    titles: dict[str, str]


def _figure_class() -> type[Figure]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise InvalidInputError(
            f"the report's plots need matplotlib, which is not installed: {INSTALL_HINT}"
        ) from exc
    _ = FigureCanvasAgg  # the Agg canvas must be importable: savefig renders with it
    return Figure


def require_matplotlib() -> None:
    """Raise :class:`~mipro_core.InvalidInputError` with the install hint when it is missing."""
    _figure_class()


def label(text: str, limit: int = 40) -> str:
    """Untrusted text made safe for a matplotlib label: no control characters, no mathtext."""
    text = printable(" ".join(text.split()))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return buffer.getvalue()


def _trajectory(data: ReportData, x: Sequence[float], xlabel: str, title: str) -> bytes:
    figure = _figure_class()(figsize=(9, 4), layout="constrained")
    ax: Axes = figure.add_subplot()
    mini: list[tuple[float, float]] = []
    full: list[tuple[float, float]] = []
    for xi, trial in zip(x, data.trials, strict=False):
        if trial.score is None:
            continue
        if trial.kind == "minibatch":
            mini.append((xi, trial.score))
        elif trial.complete:
            full.append((xi, trial.score))
    if mini:
        ax.scatter(
            [p[0] for p in mini],
            [p[1] for p in mini],
            s=22,
            color=_MINIBATCH,
            label="minibatch score",
            zorder=2,
        )
    if full:
        ax.scatter(
            [p[0] for p in full],
            [p[1] for p in full],
            s=70,
            marker="D",
            color=_FULL,
            edgecolor="white",
            label="full evaluation",
            zorder=3,
        )
        best: list[tuple[float, float]] = []
        for xi, score in full:
            best.append((xi, score if not best else max(best[-1][1], score)))
        best.append((max(x), best[-1][1]))
        ax.step(
            [p[0] for p in best],
            [p[1] for p in best],
            where="post",
            color=_BEST,
            label="best full score",
            zorder=1,
        )
    if data.baseline_score is not None:
        ax.axhline(
            data.baseline_score, color=_BASELINE, linestyle="--", linewidth=1, label="baseline"
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("score")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return _png(figure)


def _credit(data: ReportData) -> bytes:
    modules = [
        m for m in data.modules if m.instruction_share is not None or m.demos_share is not None
    ]
    figure = _figure_class()(figsize=(8, 1.2 + 0.6 * len(modules)), layout="constrained")
    ax: Axes = figure.add_subplot()
    height = 0.38
    positions = list(range(len(modules)))
    instruction = [100 * (m.instruction_share or 0.0) for m in modules]
    demos = [100 * (m.demos_share or 0.0) for m in modules]
    ax.barh(
        [p - height / 2 for p in positions],
        instruction,
        height,
        color=_INSTRUCTION,
        label="instruction choice",
    )
    ax.barh(
        [p + height / 2 for p in positions], demos, height, color=_DEMOS, label="demo-set choice"
    )
    ax.set_yticks(positions, [label(m.name) for m in modules])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of score variance explained (%)")
    ax.set_title("Per-module credit")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return _png(figure)


def render_figures(data: ReportData) -> Figures:
    """The figures ``data`` has material for (none for an artifact without trials)."""
    png: dict[str, bytes] = {}
    titles: dict[str, str] = {}
    if data.has_trials:
        require_matplotlib()
        numbers = [float(t.number) for t in data.trials]
        png["score_by_trial"] = _trajectory(data, numbers, "trial number", "Score by trial")
        titles["score_by_trial"] = "Score by trial"
        if len(data.lm_calls_at) == len(data.trials):
            calls = [float(c) for c in data.lm_calls_at]
            label = "LM calls spent (cumulative)"
            if not data.lm_calls_exact:
                label = "LM calls spent (cumulative, estimated)"
            png["score_by_lm_calls"] = _trajectory(data, calls, label, "Score by LM calls spent")
            titles["score_by_lm_calls"] = "Score by LM calls spent"
    if data.has_credit:
        require_matplotlib()
        png["credit"] = _credit(data)
        titles["credit"] = "Per-module credit"
    return Figures(png, titles)
