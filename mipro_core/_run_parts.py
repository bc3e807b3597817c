"""The records of one run that :class:`~mipro_core.MIPRO` assembles: what observers learn
(:class:`RunInfo`), what a journal records, and a dry run's result."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ._engine import EngineSettings
from ._journal import Journal
from ._memo import Memo
from ._protocols import EvaluationBackend, Metric, Program
from ._result import CostEstimate, OptimizationResult
from ._run_info import RunInfo
from ._search._registry import sampler_spec
from ._types import Example
from ._version import __version__

logger = logging.getLogger("mipro_core")

if TYPE_CHECKING:
    from ._api import MIPRO


def run_info(
    optimizer: MIPRO,
    program: Program,
    train: Sequence[Example],
    val: Sequence[Example],
    settings: EngineSettings,
    estimate: CostEstimate,
    memo: Memo,
    *,
    resumed: bool,
) -> RunInfo:
    """What observer plugins learn about ``optimizer``'s run on ``program``; trials already in the memo are replayed."""
    from ._observers import recorded_trials, run_id_of

    replayed = recorded_trials(memo)
    sampler = sampler_spec(optimizer.sampler, strict=False)
    return RunInfo(
        run_id=run_id_of(memo),
        strategy=optimizer.strategy,
        seed=optimizer.seed,
        modules=tuple(program.modules),
        frozen=settings.freeze,
        train_size=len(train),
        val_size=len(val),
        budget=optimizer.budget,
        search=optimizer.search,
        proposer=optimizer.proposer,
        sampler=sampler["type"],
        sampler_params=sampler["params"],
        num_threads=optimizer.num_threads,
        parallel_trials=settings.parallel_trials,
        estimate=estimate,
        pricing=optimizer.pricing,
        library_version=__version__,
        journal=str(memo.path.resolve()) if isinstance(memo, Journal) else None,
        resumed=resumed,
        replayed_trials=replayed,
    )


def journal_config(
    optimizer: MIPRO,
    program: Program,
    train: Sequence[Example],
    val: Sequence[Example],
    settings: EngineSettings,
) -> dict[str, Any]:
    """The run configuration a journal records (what :func:`mipro_core.resume` rebuilds).

    ``parallel_trials`` is the number the run chose (from ``num_threads`` unless given), so
    a resume with another thread count tries the same configurations."""
    return {
        "strategy": optimizer.strategy,
        "seed": optimizer.seed,
        "num_threads": optimizer.num_threads,
        "parallel_trials": settings.parallel_trials,
        "budget": attrs.asdict(optimizer.budget),
        "proposer": attrs.asdict(optimizer.proposer),
        "search": attrs.asdict(optimizer.search),
        "sampler": sampler_spec(optimizer.sampler),  # refuses what a resume could not rebuild
        "freeze": list(settings.freeze),
        "pricing": None if optimizer.pricing is None else attrs.asdict(optimizer.pricing),
        "modules": list(program.modules),
        "trainset": [ex.to_dict() for ex in train],
        "valset": [ex.to_dict() for ex in val],
    }


def default_parallel_trials(num_threads: int, minibatch_size: int) -> int:
    """The trials scored at once unless ``parallel_trials`` is given: as many minibatches as
    the threads hold (at least one)."""
    return max(1, num_threads // max(1, minibatch_size))


def fitted_replicas(
    program: Program, settings: EngineSettings
) -> tuple[list[Program], EngineSettings]:
    """The replicas for ``settings.parallel_trials`` (see :func:`replicas`), and the settings
    with the number of trials then scored at once (one when ``clone()`` refused)."""
    copies = replicas(program, settings.parallel_trials)
    if len(copies) + 1 < settings.parallel_trials:
        settings = attrs.evolve(settings, parallel_trials=len(copies) + 1)
    return copies, settings


def replicas(program: Program, count: int) -> list[Program]:
    """``count - 1`` replicas for parallel trials; none when the program cannot be cloned.

    A program says it cannot be cloned by raising ``NotImplementedError(reason)`` from
    ``clone()`` (docs/adapters.md): the run then scores one trial at a time and logs why.
    """
    if count <= 1:
        return []
    clone = getattr(program, "clone", None)
    if not callable(clone):
        return []
    try:
        first = clone()
    except NotImplementedError as exc:
        logger.warning("parallel trials are off, one trial at a time: %s", exc)
        return []
    return [first, *(clone() for _ in range(count - 2))]


@contextlib.contextmanager
def closed_at_end(memo: Memo) -> Iterator[None]:
    """The block, then ``memo`` closed if it is a :class:`Journal` (its lock released), on every
    way out: a failure before the engine starts (a refused executor, an observer interrupted
    while it starts) would otherwise keep the journal locked until the process ends. Closing a
    closed journal does nothing."""
    try:
        yield
    finally:
        if isinstance(memo, Journal):
            memo.close()


@contextlib.contextmanager
def connected(
    backend: EvaluationBackend,
    program: Program,
    metric: Metric,
    examples: Sequence[Example],
    memo: Memo,
    num_threads: int,
) -> Iterator[tuple[Program, Metric]]:
    """The program and metric a backend's session gives for one run of ``num_threads`` runs
    in flight; the session is closed at the end, and the journal too when connecting fails
    (nothing ran)."""
    try:
        session = backend.connect(program, metric, examples, num_threads=num_threads)
    except BaseException:
        if isinstance(memo, Journal):
            memo.close()
        raise
    try:
        yield session.program, session.metric
    finally:
        session.close()


def dry_result(
    program: Program, estimate: CostEstimate, seed: int, strategy: str
) -> OptimizationResult:
    from ._protocols import current_state

    state = current_state(program)
    return OptimizationResult(
        baseline_score=float("nan"),
        best_score=float("nan"),
        state=state,
        initial_state=state,
        trials=(),
        best_params={},
        instruction_candidates={},
        demo_set_sizes={},
        lm_calls=0,
        task_lm_calls=0,
        proposer_lm_calls=0,
        prompt_tokens=0,
        completion_tokens=0,
        seconds=0.0,
        stopped_reason="dry run",
        seed=seed,
        strategy=strategy,
        estimate=estimate,
    )
