"""The :class:`MIPRO` optimizer: checks a run's inputs, sets it up and runs the engine."""

from __future__ import annotations

import concurrent.futures as cf
import logging
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from ._config import Budget, Pricing, ProposerConfig, SearchConfig
from ._engine import Engine, EngineSettings
from ._errors import InvalidInputError
from ._estimate import estimate_cost
from ._fingerprint import FINGERPRINT_KEY, fingerprint
from ._gold import resolve_outputs
from ._journal import Journal
from ._memo import InMemoryMemo, Memo
from ._metric import checked_metric
from ._progress import ConsoleProgress, LogProgress, Progress, default_progress, tell_limits
from ._protocols import LM, CloneableProgram, EvaluationBackend, Metric, Program
from ._result import CostEstimate, OptimizationResult
from ._run_inputs import (
    check_executor,
    check_inputs,
    check_journalable,
    resolve_proposer,
    split_data,
)
from ._run_parts import (
    closed_at_end,
    connected,
    default_parallel_trials,
    dry_result,
    fitted_replicas,
    journal_config,
    run_info,
)
from ._search._sampler import Sampler
from ._search._tpe import TPESampler
from ._types import Example

logger = logging.getLogger("mipro_core")


class MIPRO:
    """Joint instruction + demo optimization with a TPE surrogate over minibatch scores.

    The knobs are grouped in frozen config values (:class:`Budget`, :class:`ProposerConfig`,
    :class:`SearchConfig`); one ``MIPRO`` object can optimize many programs. Subclasses
    :class:`ZeroShotMIPRO`, :class:`BootstrapRandomSearch` and :class:`RandomSearch` are the paper's
    baselines on the same machinery.
    """

    strategy = "mipro"
    meta_optimize_default = False

    def __init__(
        self,
        *,
        budget: Budget | str = "light",
        proposer: ProposerConfig | None = None,
        search: SearchConfig | None = None,
        sampler: Sampler | None = None,
        seed: int = 0,
        num_threads: int = 8,
        parallel_trials: int | None = None,
        progress: Progress | bool | None = None,
        pricing: Pricing | None = None,
        meta_optimize: bool | None = None,
        failure_aware: bool | None = None,
    ) -> None:
        """``meta_optimize=True`` is MIPRO++ (proposal settings searched in rounds, with
        instruction history); ``failure_aware=True`` also lets the proposal search show the
        proposer failing examples. Both default to the values in ``proposer``."""
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise InvalidInputError(f"seed must be a non-negative int, got {seed!r}")
        for name, value in (("num_threads", num_threads), ("parallel_trials", parallel_trials)):
            if value is None and name == "parallel_trials":
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidInputError(f"{name} must be an int >= 1, got {value!r}")
        self.budget = Budget.from_name(budget) if isinstance(budget, str) else budget
        self.proposer = proposer or ProposerConfig()
        if meta_optimize is None:
            meta_optimize = self.meta_optimize_default
        if meta_optimize:
            self.proposer = attrs.evolve(self.proposer, meta_optimize=True, use_history=True)
        if failure_aware:
            self.proposer = attrs.evolve(self.proposer, use_failures=True)
        ignored = [
            name
            for name in ("use_history", "use_failures")
            if getattr(self.proposer, name) and not self.proposer.meta_optimize
        ]
        if ignored:
            logger.warning(
                "ProposerConfig %s only take effect with meta_optimize=True (MIPRO++, whose "
                "proposal rounds have history and failures to show); they are ignored here",
                " and ".join(ignored),
            )
        self.search = self._adjust_search(search or SearchConfig())
        self.sampler = sampler or self._default_sampler()
        self.seed = seed
        self.num_threads = num_threads
        self.parallel_trials = parallel_trials
        self.progress = progress
        self.pricing = pricing

    def _default_sampler(self) -> Sampler:
        return TPESampler()

    def _adjust_search(self, search: SearchConfig) -> SearchConfig:
        return search

    def optimize(
        self,
        program: Any,
        trainset: Iterable[Example],
        metric: Metric,
        *,
        valset: Iterable[Example] | None = None,
        proposer_lm: Any = None,
        freeze: Sequence[str] = (),
        executor: cf.Executor | None = None,
        backend: EvaluationBackend | None = None,
        journal: str | Path | None = None,
        overwrite: bool = False,
        dry_run: bool = False,
    ) -> OptimizationResult:
        """Optimize ``program`` (a Program or any object an installed adapter accepts) in place.

        With ``journal="run.sqlite"`` every result is committed to a SQLite journal as it
        happens; :func:`mipro_core.resume` continues the run after a crash.
        """
        from ._adapt import adapt

        if isinstance(freeze, str):  # one module name, not a sequence of its letters
            freeze = (freeze,)
        metric = checked_metric(metric)
        prog = adapt(program)
        train, val = split_data(trainset, valset, self.budget.val_size, self.seed)
        check_inputs(prog, train, val, metric, freeze)
        if self.search.search_demos and self.search.max_labeled_demos > 0:
            resolve_outputs(prog.modules, train, self.search.outputs, warn=True)
        settings = self._settings(prog, freeze)
        lm = resolve_proposer(prog, proposer_lm, settings)
        estimate = estimate_cost(prog, len(train), len(val), settings)
        if dry_run:  # the estimate is a dry run's whole output: on stderr even off a terminal
            default = self.progress is None or self.progress is True
            progress = ConsoleProgress(sys.stderr, live=False) if default else self._progress()
            progress.stage(f"dry run: {estimate}")
            progress.close()
            return dry_result(prog, estimate, self.seed, self.strategy)
        copies: list[Program] | None = None
        if backend is None:  # made now so the journal records the trials scored at once
            copies, settings = fitted_replicas(prog, settings)
        memo: Memo
        if journal is not None:
            check_journalable(train, val)
            config = journal_config(self, prog, train, val, settings)
            config[FINGERPRINT_KEY] = fingerprint(prog, train, val, metric)
            memo = Journal.create(journal, config, overwrite=overwrite)
        else:
            memo = InMemoryMemo()
        return self._run(
            prog,
            train,
            val,
            metric,
            settings,
            estimate,
            lm,
            executor,
            memo,
            backend=backend,
            copies=copies,
        )

    def _run(
        self,
        prog: Program,
        train: tuple[Example, ...],
        val: tuple[Example, ...],
        metric: Metric,
        settings: EngineSettings,
        estimate: CostEstimate,
        lm: LM | None,
        executor: cf.Executor | None,
        memo: Memo,
        *,
        resumed: bool = False,
        backend: EvaluationBackend | None = None,
        copies: list[Program] | None = None,
    ) -> OptimizationResult:
        """Run the engine; ``lm`` is the proposer resolved by :func:`resolve_proposer`;
        ``copies`` (with ``settings`` fitted to them) when already made by
        :func:`fitted_replicas`."""
        from ._observers import RunObservers

        with closed_at_end(memo):  # however the run ends, even before it starts
            if backend is not None:  # the same run, with the program's runs going elsewhere
                examples = (*train, *val)
                with connected(backend, prog, metric, examples, memo, self.num_threads) as (
                    remote,
                    scored,
                ):
                    run = (remote, train, val, scored, settings, estimate, lm, executor, memo)
                    return self._run(*run, resumed=resumed)
            progress = self._progress()
            progress.stage(str(estimate))
            budget = settings.budget
            tell_limits(progress, max_lm_calls=budget.max_lm_calls, max_seconds=budget.max_seconds)
            own_executor = executor is None
            if executor is not None:
                check_executor(executor)
            if copies is None:
                copies, settings = fitted_replicas(prog, settings)
            observers = RunObservers(
                run_info(self, prog, train, val, settings, estimate, memo, resumed=resumed)
            )
            observers.started()
            pool = executor or cf.ThreadPoolExecutor(self.num_threads, thread_name_prefix="mipro")
            failure: BaseException | None = None
            try:
                engine = Engine(
                    prog,
                    train,
                    val,
                    metric,
                    settings,
                    proposer_lm=lm,
                    executor=pool,
                    memo=memo,
                    progress=progress,
                    replicas=copies,
                    on_trial=observers.trial,
                )
                result = engine.run()
            except BaseException as exc:
                failure = exc
                raise
            finally:
                progress.close()
                if own_executor:
                    # a run the engine gave up on (past ``timeout``, or left behind by Ctrl-C) may
                    # never return: waiting for it would hang optimize() itself
                    settled = failure is None and settings.search.timeout is None
                    pool.shutdown(wait=settled, cancel_futures=True)
                if isinstance(memo, Journal):
                    memo.close()
                if failure is not None:
                    observers.failed(failure)
            result = attrs.evolve(result, estimate=estimate)
            logger.info("optimization finished: %s", result.summary().splitlines()[1])
            observers.completed(result)
            return result

    def _settings(self, program: Program, freeze: Sequence[str]) -> EngineSettings:
        parallel = self.parallel_trials
        if parallel is None:
            parallel = default_parallel_trials(self.num_threads, self.search.minibatch_size)
        if parallel > 1 and (
            not isinstance(program, CloneableProgram)
            or not callable(getattr(program, "clone", None))
        ):
            logger.warning(
                "parallel trials are off, one trial at a time: the %s program has no clone() "
                "to score %d configurations at once on (see docs/adapters.md)",
                type(program).__name__,
                parallel,
            )
            parallel = 1
        return EngineSettings(
            strategy=self.strategy,
            budget=self.budget,
            proposer=self.proposer,
            search=self.search,
            sampler=self.sampler,
            seed=self.seed,
            freeze=tuple(freeze),
            parallel_trials=parallel,
            pricing=self.pricing,
            num_threads=self.num_threads,
        )

    def _progress(self) -> Progress:
        if self.progress is None:
            return default_progress()
        if self.progress is False:
            return LogProgress()
        if self.progress is True:
            return ConsoleProgress()
        return self.progress
