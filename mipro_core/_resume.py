"""``resume(...)``: continue the run a journal records."""

from __future__ import annotations

import concurrent.futures as cf
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ._api import MIPRO, STRATEGIES
from ._config import Budget, Pricing, ProposerConfig, SearchConfig
from ._errors import JournalError
from ._estimate import estimate_cost
from ._eval_records import cached_record
from ._fingerprint import FINGERPRINT_KEY, differences, fingerprint
from ._journal import Journal
from ._metric import checked_metric
from ._progress import Progress
from ._protocols import EvaluationBackend, Metric
from ._result import OptimizationResult
from ._run_inputs import resolve_proposer
from ._run_parts import default_parallel_trials
from ._search._registry import sampler_from_spec
from ._search._sampler import Sampler
from ._types import Example

logger = logging.getLogger("mipro_core")

RUN_KINDS = ("run", "bootstrap")
"""The memo records of program runs (scored, and bootstrap traces), decoded before a resume."""


def resume(
    journal: str | Path,
    program: Any,
    metric: Metric,
    *,
    proposer_lm: Any = None,
    sampler: Sampler | None = None,
    num_threads: int | None = None,
    executor: cf.Executor | None = None,
    progress: Progress | bool | None = None,
    force: bool = False,
    backend: EvaluationBackend | None = None,
) -> OptimizationResult:
    """Continue the run recorded in ``journal`` on ``program`` (rebuilt by your own code).

    The run replays from the start: every step already in the journal is served from it (no LM
    call is paid twice), the rest runs and is appended. With a deterministic LM the trial log and
    the final state equal those of an uninterrupted run. The journal is data: nothing in it is
    imported or run.

    Args:
        journal: the journal file of the run (``optimize(..., journal=...)``).
        program: the program of that run, freshly built (before any optimization): a Program
            or any object an installed adapter accepts.
        metric: the metric of that run.
        proposer_lm: the proposer model (default: the program's own single model).
        sampler: a sampler object, when the journal records one mipro cannot rebuild by name.
        num_threads: threads for program runs (default: the recorded number).
        executor: a thread pool of yours to run on (a process pool is refused).
        progress: as for :func:`mipro_core.optimize`.
        force: resume despite a fingerprint mismatch (never despite a failed checksum).
        backend: where program runs happen, as for :func:`mipro_core.optimize` (a run started
            on one backend resumes on another).

    Returns:
        The result of the whole run, as :func:`mipro_core.optimize` returns it.

    Raises:
        JournalError: the journal is damaged or fails a checksum, was written for another
            program (its modules differ), or its fingerprint of the program (module signatures,
            original instructions and demos), the data and the metric's name does not match
            ``program`` and ``metric`` (unless ``force``); the message names what differs.
        InvalidInputError: the run proposes instructions and no proposer model is available.
        NoAdapterError: no installed adapter accepts ``program``.
    """
    from ._adapt import adapt

    metric = checked_metric(metric)
    store = Journal.open(journal)
    try:
        config = _verified_config(store, journal)
        prog = adapt(program)
        recorded = list(config.get("modules", []))
        if sorted(recorded) != sorted(prog.modules):
            missing = sorted(set(recorded) - set(prog.modules))
            extra = sorted(set(prog.modules) - set(recorded))
            raise JournalError(
                f"journal {journal} was written for another program: modules missing here "
                f"{missing}, modules not in the journal {extra}"
            )
        optimizer, train, val, freeze = _recorded_run(journal, config, sampler, num_threads)
        unknown = sorted(set(freeze) - set(prog.modules))
        if unknown:
            raise JournalError(
                f"journal {journal} has an invalid run configuration: freeze names unknown "
                f"module(s) {unknown}"
            )
        optimizer.progress = progress
        _check_fingerprint(journal, config, fingerprint(prog, train, val, metric), force)
        settings = optimizer._settings(prog, freeze)
        estimate = estimate_cost(prog, len(train), len(val), settings)
        lm = resolve_proposer(prog, proposer_lm, settings)
    except BaseException:
        store.close()  # nothing ran: the journal is free for another process at once
        raise
    return optimizer._run(  # closes the journal however the run ends
        prog,
        train,
        val,
        metric,
        settings,
        estimate,
        lm,
        executor,
        store,
        resumed=True,
        backend=backend,
    )


def _recorded_run(
    journal: str | Path,
    config: Mapping[str, Any],
    sampler: Sampler | None,
    num_threads: int | None,
) -> tuple[MIPRO, tuple[Example, ...], tuple[Example, ...], tuple[str, ...]]:
    """The optimizer, data and frozen modules a journal's configuration records."""
    try:
        _check_switches(config, "proposer", ProposerConfig)
        _check_switches(config, "search", SearchConfig)
        optimizer = STRATEGIES[config["strategy"]](
            budget=Budget(**config["budget"]),
            # a journal from before the repair round existed recorded a run without it
            proposer=ProposerConfig(**{"repair_round": False, **config["proposer"]}),
            search=SearchConfig(**config["search"]),
            sampler=sampler_from_spec(config["sampler"], sampler),
            seed=_whole(config, "seed"),
            num_threads=num_threads or _whole(config, "num_threads"),
            parallel_trials=_recorded_parallel_trials(config),
            pricing=Pricing(**config["pricing"]) if config.get("pricing") else None,
        )
        train = tuple(Example.from_dict(d) for d in config["trainset"])
        val = tuple(Example.from_dict(d) for d in config["valset"])
        freeze = config.get("freeze", [])
        if not isinstance(freeze, list) or not all(isinstance(n, str) for n in freeze):
            raise TypeError(f"freeze must be a list of module names, got {freeze!r:.80}")
    except (KeyError, TypeError, ValueError) as exc:
        raise JournalError(f"journal {journal} has an invalid run configuration: {exc}") from exc
    return optimizer, train, val, tuple(freeze)


def _verified_config(store: Journal, journal: str | Path) -> dict[str, Any]:
    """The run configuration, once every record's checksum is verified and every recorded
    program run decodes as the replay will decode it (its score a finite number, its counts
    whole): a malformed one is refused before the resumed run pays for a call. The decoded
    runs are dropped on return (the replay reads them again, one at a time)."""
    contents = store.read(kinds=RUN_KINDS)
    for (_, key), value in contents.records.items():
        try:
            cached_record(value, key)
        except JournalError as exc:
            raise JournalError(f"journal {journal}: {exc}") from exc
    return contents.config


def _check_switches(config: Mapping[str, Any], section: str, settings: type) -> None:
    """Refuse a recorded on/off setting that is not ``true`` / ``false`` (the text ``"false"``
    would switch it on)."""
    values = config[section]
    if not isinstance(values, Mapping):
        raise TypeError(f"{section} must be an object, got {values!r:.40}")
    for field in attrs.fields(settings):
        value = values.get(field.name)
        if isinstance(field.default, bool) and value is not None and not isinstance(value, bool):
            raise TypeError(f"{section}.{field.name} must be true or false, got {value!r:.40}")


def _whole(config: Mapping[str, Any], key: str) -> int:
    """``config[key]``, a whole number as mipro records it (an edited ``1.5`` or ``"4"`` is
    refused, never rounded into another run)."""
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} must be a whole number, got {value!r:.40}")
    return value


def _check_fingerprint(
    journal: str | Path, config: Mapping[str, Any], current: Mapping[str, Any], force: bool
) -> None:
    """Refuse to resume a journal written for another program, data or metric."""
    recorded = config.get(FINGERPRINT_KEY)
    found = (
        differences(recorded, current)
        if isinstance(recorded, Mapping)
        else ["the journal records no fingerprint"]
    )
    if not found:
        return
    text = "; ".join(found)
    if force:
        logger.warning("resuming %s despite a fingerprint mismatch (force=True): %s", journal, text)
        return
    raise JournalError(
        f"journal {journal} was written for another run: {text}. Resume with the program "
        "(freshly built, not yet optimized) and metric of that run, or pass force=True "
        "(--force) to resume anyway"
    )


def _recorded_parallel_trials(config: Mapping[str, Any]) -> int | None:
    """The parallel trials the journaled run used: recorded since the journal keeps them;
    for an older journal (``None``), what its own thread count chose, so that a resume with
    another ``num_threads`` still tries the same configurations."""
    if config.get("parallel_trials") is not None:
        return _whole(config, "parallel_trials")
    search = config.get("search")
    minibatch = int(search.get("minibatch_size", 30)) if isinstance(search, Mapping) else 30
    return default_parallel_trials(_whole(config, "num_threads"), minibatch)
