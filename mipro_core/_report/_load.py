"""Read a journal or an artifact into a :class:`ReportData`, without changing the file.

The journal is opened read-only by SQLite itself and read by the journal reader
(:func:`~mipro_core._journal_read.read_contents`, which checks every row's checksum); the
artifact by :func:`~mipro_core.read_artifact`. Both files are untrusted: every value read is
checked, and anything unexpected raises :class:`~mipro_core.JournalError` or
:class:`~mipro_core.ArtifactError` naming the file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._artifact import Artifact, read_artifact
from .._errors import ArtifactError, JournalError
from .._journal_read import JournalContents, open_read_only, read_contents
from .._result import Trial, module_credit
from .._types import Demo
from .._variables import VariableKey
from ._data import (
    ModuleReport,
    ReportData,
    Section,
    best_of,
    choice_means,
    cumulative_lm_calls,
    display_value,
    flatten,
    recorded_lm_calls,
    usage_section,
    versions_section,
)

SQLITE_MAGIC = b"SQLite format 3\x00"
_RUN_KEYS = ("strategy", "seed", "num_threads", "parallel_trials", "freeze", "modules")
_LEFT_OUT = frozenset({*_RUN_KEYS, "trainset", "valset", "sampler", "pricing"})


def load_source(path: str | os.PathLike[str]) -> ReportData:
    """The report data of the journal or artifact at ``path`` (recognised by its content)."""
    source = Path(path)
    if not stat.S_ISREG(os.stat(source).st_mode):  # a missing file raises FileNotFoundError
        raise ArtifactError(f"{source} is not a regular file (expected a journal or an artifact)")
    with open(source, "rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if head == SQLITE_MAGIC:
        return _from_journal(source)
    if not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        raise ArtifactError(
            f"{source} is neither a mipro journal (SQLite) nor a mipro artifact (JSON)"
        )
    return _from_artifact(source, read_artifact(source))


# --- journals ----------------------------------------------------------------------------------


def _instructions(value: Any, path: Path) -> dict[str, list[str]]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(v, list) and v and all(isinstance(s, str) for s in v) for v in value.values()
    ):
        raise JournalError(f"journal {path} has an invalid instruction pool record")
    return {str(k): list(v) for k, v in value.items()}


def _demo_sets(value: Any, path: Path) -> dict[str, list[tuple[Demo, ...]]]:
    if value is None:
        return {}
    try:
        if not isinstance(value, dict):
            raise TypeError("not an object")
        return {
            str(name): [tuple(Demo.from_dict(d) for d in demo_set) for demo_set in sets]
            for name, sets in value.items()
        }
    except (TypeError, ValueError, AttributeError) as exc:
        raise JournalError(f"journal {path} has an invalid demo set record ({exc})") from exc


def _repair_indices(
    listed: Any, last: Any, pool: list[str] | None, path: Path, name: str
) -> tuple[int, ...]:
    """The repair and rescue rounds' candidates of module ``name``: the ``repairs`` record (a
    list), or in a journal from before it was kept, the ``repair`` record (the last round's
    candidate only); those within the pool (a journal that ends mid-round may name one its
    pool does not hold yet: unlabelled).

    Raises:
        JournalError: a record is not of either shape.
    """
    if listed is not None:  # this version's record
        if isinstance(listed, list) and all(_is_index(i) for i in listed):
            return tuple(i for i in listed if pool and 0 < i < len(pool))
        raise JournalError(
            f"journal {path}: the repairs record {name!r} is not a list of instruction "
            f"indices ({listed!r:.80})"
        )
    if last is None:
        return ()
    if not _is_index(last):  # an earlier version's record: the last round's candidate
        raise JournalError(
            f"journal {path}: the repair record {name!r} is not an instruction index ({last!r:.80})"
        )
    return (last,) if pool and 0 < last < len(pool) else ()


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _pick(pool: list[Any], index: int, path: Path, what: str) -> Any:
    if not 0 <= index < len(pool):
        raise JournalError(f"journal {path}: a trial chose {what} #{index}, which is not recorded")
    return pool[index]


def _from_journal(path: Path) -> ReportData:
    with open_read_only(path) as db:
        content = read_contents(db, path, ("trial", "space", "usage", "repair", "repairs"))
    config = content.config
    trials = content.trials()
    instructions = _instructions(content.record("space", "instructions"), path)
    demo_sets = _demo_sets(content.record("space", "demo_sets"), path)
    variables = content.record("space", "variables")
    variables = variables if isinstance(variables, dict) else {}
    names = (
        [str(n) for n in config.get("modules", [])]
        if isinstance(config.get("modules"), list)
        else []
    )
    names += [n for n in instructions if n not in names]
    baseline, best, best_params = best_of(trials)
    notes = []
    if not instructions:
        notes.append(
            "The journal ends before the search space was recorded (the run stopped or is "
            "still bootstrapping demos and proposing instructions): no prompts to show yet."
        )
    modules = []
    for name in names:
        i_var, d_var = str(VariableKey.instruction(name)), str(VariableKey.demos(name))
        pool, sets = instructions.get(name), demo_sets.get(name)
        i_index, d_index = best_params.get(i_var, 0), best_params.get(d_var, 0)
        i_share, d_share = module_credit(trials, name)
        searched = i_var in variables or d_var in variables
        modules.append(
            ModuleReport(
                name=name,
                best_instruction=None
                if pool is None
                else _pick(pool, i_index, path, "instruction"),
                demos=None if sets is None else _pick(sets, d_index, path, "demo set"),
                original_instruction=None if pool is None else pool[0],
                instruction_index=i_index if pool is not None else None,
                demo_set_index=d_index if sets is not None else None,
                instruction_candidates=None if pool is None else len(pool),
                demo_sets=None if sets is None else len(sets),
                instruction_share=i_share if searched else None,
                demos_share=d_share if searched else None,
                instruction_means=choice_means(trials, i_var),
                demo_means=choice_means(trials, d_var),
                searched=searched,
                repair_indices=_repair_indices(
                    content.record("repairs", name),
                    content.record("repair", name),
                    pool,
                    path,
                    name,
                ),
            )
        )
    if trials and best is not None and best == baseline and not best_params:
        notes.append("No configuration beat the original prompts on a full evaluation (yet).")
    usage = content.record("usage", "totals")
    usage = usage if isinstance(usage, dict) else {}
    total = usage.get("lm_calls")
    return ReportData(
        source=str(path),
        kind="journal",
        modules=tuple(modules),
        trials=trials,
        lm_calls_at=cumulative_lm_calls(trials, _count(total)),
        lm_calls_exact=recorded_lm_calls(trials),
        baseline_score=baseline,
        best_score=best,
        lm_calls=_count(total),
        config=_journal_sections(content, trials, usage, path),
        notes=tuple(notes),
    )


def _journal_sections(
    content: JournalContents, trials: tuple[Trial, ...], usage: Mapping[str, Any], path: Path
) -> tuple[Section, ...]:
    config = content.config
    run = [(key, display_value(config[key])) for key in _RUN_KEYS if key in config]
    sampler = config.get("sampler")
    if isinstance(sampler, dict):
        params = sampler.get("params")
        described = (
            ", ".join(f"{k}={display_value(v)}" for k, v in params.items())
            if isinstance(params, dict)
            else ""
        )
        run.append(("sampler", f"{display_value(sampler.get('type'))}({described})"))
    for key in ("trainset", "valset"):
        if isinstance(config.get(key), list):
            run.append((f"{key} size", str(len(config[key]))))
    extra_meta = {
        k: v
        for k, v in content.meta.items()
        if k not in ("format", "schema_version", "library_version", "created_at", "config")
    }
    run += flatten(extra_meta)
    sections = [Section("Run", tuple(run))]
    for key in ("budget", "search", "proposer", "pricing"):
        if isinstance(config.get(key), dict):
            sections.append(Section(key.capitalize(), tuple(flatten(config[key]))))
    rest = {
        k: v
        for k, v in config.items()
        if k not in _LEFT_OUT and k not in ("budget", "search", "proposer")
    }
    if rest:
        sections.append(Section("Other settings", tuple(flatten(rest))))
    sections.append(
        usage_section(
            lm_calls=usage.get("lm_calls", "not recorded"),
            task=usage.get("task_lm_calls", "not recorded"),
            proposer=usage.get("proposer_lm_calls", "not recorded"),
            prompt_tokens=usage.get("prompt_tokens", "not recorded"),
            completion_tokens=usage.get("completion_tokens", "not recorded"),
            cost=usage.get("cost"),
            trials=trials,
        )
    )
    sections.append(Section("Times", tuple(_journal_times(content, trials, path))))
    written_by = content.meta.get("library_version")
    sections.append(versions_section(None if written_by is None else display_value(written_by)))
    return tuple(sections)


def _journal_times(
    content: JournalContents, trials: tuple[Trial, ...], path: Path
) -> list[tuple[str, str]]:
    rows = []
    created = content.meta.get("created_at")
    if created is not None:
        rows.append(("journal created", display_value(created)))
    mtimes = [p.stat().st_mtime for p in (path, Path(f"{path}-wal")) if p.exists()]
    last = datetime.fromtimestamp(max(mtimes), timezone.utc).isoformat(timespec="seconds")
    rows.append(("journal last written", last))
    rows.append(("time in trials", f"{sum(t.seconds for t in trials):.1f} s"))
    return rows


# --- artifacts ---------------------------------------------------------------------------------


def _from_artifact(path: Path, artifact: Artifact) -> ReportData:
    modules = tuple(
        ModuleReport(name=name, best_instruction=state.instruction, demos=state.demos)
        for name, state in artifact.state.modules.items()
    )
    details = Section(
        "Artifact",
        (
            ("schema version", str(artifact.schema_version)),
            ("created", artifact.created_at.isoformat(timespec="seconds")),
            ("modules", ", ".join(artifact.state.names())),
        ),
    )
    sections = [details]
    if artifact.metadata:
        sections.append(Section("Metadata", tuple(flatten(artifact.metadata))))
    sections.append(versions_section(artifact.library_version))
    baseline = artifact.metadata.get("baseline_score")
    score = artifact.metadata.get("score")
    return ReportData(
        source=str(path),
        kind="artifact",
        modules=modules,
        baseline_score=_number(baseline),
        best_score=_number(score),
        lm_calls=_count(artifact.metadata.get("lm_calls")),
        config=tuple(sections),
        notes=(
            "This report was made from an artifact, which stores only the winning prompts and "
            "a few numbers. The score trajectory, the credit report and the original "
            "instructions live in the run's journal: run optimize(..., journal='run.db') and "
            "make the report from run.db.",
        ),
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _count(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None
