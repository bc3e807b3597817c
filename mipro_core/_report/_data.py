"""What a run report shows, as one value (:class:`ReportData`), and the numbers derived for it.

A report can be built from a journal, an artifact or an :class:`~mipro_core.OptimizationResult`
(see :mod:`._load`); the plots and the HTML page only ever read a :class:`ReportData`.
"""

from __future__ import annotations

import contextlib
import json
import math
import platform
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from typing import Any, Literal

import attrs

from .._result import OptimizationResult, Trial, credit_trials
from .._types import Demo
from .._variables import VariableKey, changed_count
from .._version import __version__

SourceKind = Literal["journal", "artifact", "result"]


@attrs.frozen
class ChoiceScore:
    """Candidate ``index`` of one variable: the mean score of the ``count`` minibatch trials
    that chose it, and ``best_full``, the best complete full-evaluation score of a configuration
    holding it (``None`` if none was fully evaluated). The winner is the configuration with the
    best full-evaluation score, so the chosen candidate has the highest ``best_full``."""

    index: int
    mean: float | None
    count: int
    best_full: float | None = None


@attrs.frozen(kw_only=True)
class ModuleReport:
    """One module: its winning prompt, what it started from, and how much its choices mattered.

    Fields that the source does not record are ``None`` (an artifact has no original
    instruction, no candidate counts and no credit).
    """

    name: str
    best_instruction: str | None
    demos: tuple[Demo, ...] | None
    original_instruction: str | None = None
    instruction_index: int | None = None
    demo_set_index: int | None = None
    instruction_candidates: int | None = None
    demo_sets: int | None = None
    instruction_share: float | None = None
    demos_share: float | None = None
    instruction_means: tuple[ChoiceScore, ...] = ()
    demo_means: tuple[ChoiceScore, ...] = ()
    searched: bool = True
    repair_indices: tuple[int, ...] = ()
    """The instruction candidates the repair and rescue rounds wrote (empty: none, or not
    recorded)."""

    @property
    def changed(self) -> bool | None:
        if self.original_instruction is None or self.best_instruction is None:
            return None
        return self.original_instruction != self.best_instruction


@attrs.frozen
class Section:
    """A titled table of (label, value) rows of the run configuration."""

    title: str
    rows: tuple[tuple[str, str], ...]


@attrs.frozen(kw_only=True)
class ReportData:
    """Everything the report page and its figures show.

    ``lm_calls_at[i]`` is the cumulative number of LM calls spent when trial ``i`` finished
    (see :func:`cumulative_lm_calls`; exact when ``lm_calls_exact``, else estimated); it is
    empty when no total is known.
    """

    source: str
    kind: SourceKind
    modules: tuple[ModuleReport, ...]
    trials: tuple[Trial, ...] = ()
    lm_calls_at: tuple[int, ...] = ()
    lm_calls_exact: bool = False
    baseline_score: float | None = None
    best_score: float | None = None
    lm_calls: int | None = None
    config: tuple[Section, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def has_trials(self) -> bool:
        return any(t.score is not None for t in self.trials)

    @property
    def has_credit(self) -> bool:
        measured = len(credit_trials(self.trials)[1]) >= 2
        return measured and any(
            m.instruction_share is not None or m.demos_share is not None for m in self.modules
        )


# --- derived numbers ---------------------------------------------------------------------------


def _scored_minibatches(trials: Iterable[Trial]) -> list[Trial]:
    return [t for t in trials if t.kind == "minibatch" and t.score is not None]


def choice_means(trials: Sequence[Trial], variable: str) -> tuple[ChoiceScore, ...]:
    """Per candidate index of ``variable`` (e.g. ``"answer.demos"``): the mean minibatch score,
    the number of minibatch trials, and the best full-evaluation score of a configuration
    holding it (a configuration without the variable holds candidate 0). A run whose trials
    are all full evaluations has rows too, without minibatch means."""
    by_index: dict[int, list[float]] = {}
    for trial in _scored_minibatches(trials):
        if variable in trial.params and trial.score is not None:
            by_index.setdefault(int(trial.params[variable]), []).append(float(trial.score))
    full: dict[int, float] = {}
    for trial in trials:
        if trial.kind == "full" and trial.complete and trial.score is not None:
            index = int(trial.params.get(variable, 0))
            full[index] = max(full.get(index, float("-inf")), float(trial.score))
    if not by_index and not full:
        return ()
    return tuple(
        ChoiceScore(
            index,
            sum(values) / len(values) if (values := by_index.get(index, [])) else None,
            len(values),
            full.get(index),
        )
        for index in sorted(set(by_index) | set(full))
    )


def _config_identity(params: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    """A configuration's identity: a variable missing from ``params`` means candidate 0."""
    return tuple(sorted((k, int(v)) for k, v in params.items() if int(v) != 0))


def recorded_lm_calls(trials: Sequence[Trial]) -> bool:
    """Whether every trial carries the run's LM-call count when it finished (runs since 0.1)."""
    return bool(trials) and all(t.total_lm_calls > 0 for t in trials)


def cumulative_lm_calls(trials: Sequence[Trial], total: int | None) -> tuple[int, ...]:
    """LM calls spent when each trial finished.

    Trials recorded with ``total_lm_calls`` (the engine writes it) give the exact count. For
    older records the count is estimated:

    A trial's ``lm_calls`` also counts runs served from the run's cache (a configuration
    already scored on an example is not paid for again), so only the share of its examples not
    seen before with the same configuration is counted. The calls made outside trials
    (bootstrapping demos, proposing instructions) are ``total`` minus what the trials spent;
    they are placed after the first trial (the baseline), where a MIPRO run makes them. With
    MIPRO++ the proposal rounds during the search are counted there too, so the curve runs a
    little ahead of the real spend; its last point equals ``total``.
    """
    if total is None or not trials:
        return ()
    if recorded_lm_calls(trials):
        exact, high = [], 0
        for trial in trials:
            high = max(high, trial.total_lm_calls)
            exact.append(high)
        return tuple(exact)
    seen: set[tuple[tuple[tuple[str, int], ...], str]] = set()
    fresh: list[float] = []
    for trial in trials:
        identity = _config_identity(trial.params)
        new = [e for e in trial.example_ids if (identity, e) not in seen]
        seen.update((identity, e) for e in trial.example_ids)
        share = len(new) / len(trial.example_ids) if trial.example_ids else 1.0
        fresh.append(trial.lm_calls * share)
    outside = max(0.0, total - sum(fresh))
    points: list[int] = []
    spent = 0.0
    for number, calls in enumerate(fresh):
        if number == 1:
            spent += outside
        spent += calls
        points.append(round(spent))
    if len(fresh) == 1:
        points[0] = round(spent + outside)
    return tuple(points)


def best_of(trials: Sequence[Trial]) -> tuple[float | None, float | None, dict[str, int]]:
    """(baseline, best, best params) as the engine picks them: the baseline is the first full
    evaluation of the unmodified program; a configuration wins with a strictly higher complete
    full-evaluation score, or the same score with fewer variables off the original
    (:func:`changed_count`)."""
    baseline: float | None = None
    for trial in trials:
        if trial.kind == "full" and not trial.params and trial.score is not None:
            baseline = trial.score
            break
    best, params = baseline, dict[str, int]()
    for trial in trials:
        if trial.kind != "full" or not trial.complete or trial.score is None or not trial.params:
            continue
        if (
            best is None
            or trial.score > best
            or (trial.score == best and changed_count(trial.params) < changed_count(params))
        ):
            best, params = trial.score, dict(trial.params)
    return baseline, best, params


# --- display helpers shared by the loaders ----------------------------------------------------


def display_value(value: Any) -> str:
    """A configuration value as text: strings as they are, everything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def flatten(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """``{"a": {"b": 1}}`` -> ``[("a.b", "1")]``; lists and scalars become one row each."""
    rows: list[tuple[str, str]] = []
    for key, value in values.items():
        label = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows.extend(flatten(value, label + "."))
        else:
            rows.append((label, display_value(value)))
    return rows


def versions_section(written_by: str | None) -> Section:
    rows = []
    if written_by is not None:
        rows.append(("written by mipro", written_by))
    rows.append(("report made by mipro", __version__))
    rows.append(("Python", platform.python_version()))
    with contextlib.suppress(metadata.PackageNotFoundError):  # not installed: not shown
        rows.append(("matplotlib", metadata.version("matplotlib")))
    return Section("Versions", tuple(rows))


def usage_section(
    *,
    lm_calls: Any,
    task: Any,
    proposer: Any,
    prompt_tokens: Any,
    completion_tokens: Any,
    cost: Any,
    trials: Sequence[Trial],
) -> Section:
    minibatches = sum(1 for t in trials if t.kind == "minibatch")
    fulls = sum(1 for t in trials if t.kind == "full")
    rows = [
        ("LM calls", display_value(lm_calls)),
        ("task LM calls", display_value(task)),
        ("proposer LM calls", display_value(proposer)),
        ("prompt tokens", display_value(prompt_tokens)),
        ("completion tokens", display_value(completion_tokens)),
        ("trials", f"{len(trials)} ({minibatches} minibatch, {fulls} full evaluations)"),
        ("program-run errors in trials", str(sum(t.errors for t in trials))),
        ("malformed answers in trials", str(sum(t.malformed for t in trials))),
    ]
    if cost is not None:
        rows.append(("cost", display_value(cost)))
    return Section("LM calls", tuple(rows))


# --- from an OptimizationResult ----------------------------------------------------------------


def from_result(result: OptimizationResult, source: str = "OptimizationResult") -> ReportData:
    """The report of a run held in memory (everything but the candidate demo sets' contents)."""
    credit = {c.module: c for c in result.credit}
    modules = []
    for name, state in result.state.modules.items():
        c = credit.get(name)
        instruction_key, demos_key = VariableKey.instruction(name), VariableKey.demos(name)
        modules.append(
            ModuleReport(
                name=name,
                best_instruction=state.instruction,
                demos=state.demos,
                original_instruction=result.initial_state[name].instruction
                if name in result.initial_state.modules
                else None,
                instruction_index=instruction_key.index_in(result.best_params),
                demo_set_index=demos_key.index_in(result.best_params),
                instruction_candidates=len(result.instruction_candidates.get(name, ())) or None,
                repair_indices=tuple(result.repair_candidates.get(name, ())),
                demo_sets=len(result.demo_set_sizes.get(name, ())) or None,
                instruction_share=None if c is None else c.instruction_share,
                demos_share=None if c is None else c.demos_share,
                instruction_means=choice_means(result.trials, str(instruction_key)),
                demo_means=choice_means(result.trials, str(demos_key)),
                searched=any(
                    str(instruction_key) in t.params or str(demos_key) in t.params
                    for t in result.trials
                ),
            )
        )
    run = Section(
        "Run",
        (
            ("strategy", result.strategy),
            ("seed", str(result.seed)),
            ("stopped because", result.stopped_reason),
            ("modules", ", ".join(result.state.names())),
        ),
    )
    usage = usage_section(
        lm_calls=result.lm_calls,
        task=result.task_lm_calls,
        proposer=result.proposer_lm_calls,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        cost=result.cost,
        trials=result.trials,
    )
    times = Section(
        "Times",
        (
            ("run time", f"{result.seconds:.1f} s"),
            ("time in trials", f"{sum(t.seconds for t in result.trials):.1f} s"),
        ),
    )
    sections = [run, usage, times]
    if result.estimate is not None:
        sections.append(
            Section("Estimate made before the run", (("estimate", str(result.estimate)),))
        )
    sections.append(versions_section(None))
    return ReportData(
        source=source,
        kind="result",
        modules=tuple(modules),
        trials=result.trials,
        lm_calls_at=cumulative_lm_calls(result.trials, result.lm_calls),
        lm_calls_exact=recorded_lm_calls(result.trials),
        baseline_score=_finite(result.baseline_score),
        best_score=_finite(result.best_score),
        lm_calls=result.lm_calls,
        config=tuple(sections),
    )


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
