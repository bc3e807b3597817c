"""The public optimizers: ``optimize(...)``, :class:`MIPRO` and the paper's baselines."""

from __future__ import annotations

import concurrent.futures as cf
import logging
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ._config import Budget, Pricing, ProposerConfig, SearchConfig
from ._engine import Engine, EngineSettings
from ._errors import InvalidInputError, JournalError
from ._estimate import estimate_cost
from ._fingerprint import FINGERPRINT_KEY, differences, fingerprint
from ._gold import resolve_outputs
from ._input_checks import check_distinct, check_input_values, check_modules_read_input
from ._journal import Journal
from ._memo import InMemoryMemo, Memo
from ._metric import checked_metric
from ._progress import ConsoleProgress, LogProgress, Progress, default_progress
from ._protocols import LM, CloneableProgram, Metric, Program
from ._result import CostEstimate, OptimizationResult
from ._run_info import RunInfo
from ._search._random import RandomSampler
from ._search._registry import sampler_from_spec, sampler_spec
from ._search._sampler import Sampler
from ._search._tpe import TPESampler
from ._types import Example, canonical_json
from ._version import __version__

logger = logging.getLogger("mipro_core")

MIN_VALSET = 2


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
        if num_threads < 1:
            raise InvalidInputError(f"num_threads must be >= 1, got {num_threads}")
        if parallel_trials is not None and parallel_trials < 1:
            raise InvalidInputError(f"parallel_trials must be >= 1, got {parallel_trials}")
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
        lm = _proposer(prog, proposer_lm, settings)
        estimate = estimate_cost(prog, len(train), len(val), settings)
        if dry_run:  # the estimate is a dry run's whole output: on stderr even off a terminal
            default = self.progress is None or self.progress is True
            progress = ConsoleProgress(sys.stderr, live=False) if default else self._progress()
            progress.stage(f"dry run: {estimate}")
            progress.close()
            return _dry_result(prog, estimate, self.seed, self.strategy)
        memo: Memo
        if journal is not None:
            _check_journalable(train, val)
            config = self._journal_config(prog, train, val, freeze)
            config[FINGERPRINT_KEY] = fingerprint(prog, train, val, metric)
            memo = Journal.create(journal, config, overwrite=overwrite)
        else:
            memo = InMemoryMemo()
        return self._run(prog, train, val, metric, settings, estimate, lm, executor, memo)

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
    ) -> OptimizationResult:
        """Run the engine; ``lm`` is the proposer resolved by :func:`_proposer`."""
        from ._observers import RunObservers

        progress = self._progress()
        progress.stage(str(estimate))
        own_executor = executor is None
        if executor is not None:
            _check_executor(executor)
        observers = RunObservers(
            self._run_info(prog, train, val, settings, estimate, memo, resumed=resumed)
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
                replicas=_replicas(prog, settings.parallel_trials),
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

    def _run_info(
        self,
        program: Program,
        train: Sequence[Example],
        val: Sequence[Example],
        settings: EngineSettings,
        estimate: CostEstimate,
        memo: Memo,
        *,
        resumed: bool,
    ) -> RunInfo:
        """What observer plugins learn about this run; trials already in the memo are replayed."""
        from ._observers import recorded_trials, run_id_of

        replayed = recorded_trials(memo)
        sampler = sampler_spec(self.sampler, strict=False)
        return RunInfo(
            run_id=run_id_of(memo),
            strategy=self.strategy,
            seed=self.seed,
            modules=tuple(program.modules),
            frozen=settings.freeze,
            train_size=len(train),
            val_size=len(val),
            budget=self.budget,
            search=self.search,
            proposer=self.proposer,
            sampler=sampler["type"],
            sampler_params=sampler["params"],
            num_threads=self.num_threads,
            parallel_trials=settings.parallel_trials,
            estimate=estimate,
            pricing=self.pricing,
            library_version=__version__,
            journal=str(memo.path.resolve()) if isinstance(memo, Journal) else None,
            resumed=resumed,
            replayed_trials=replayed,
        )

    def _journal_config(
        self,
        program: Program,
        train: Sequence[Example],
        val: Sequence[Example],
        freeze: Sequence[str],
    ) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "seed": self.seed,
            "num_threads": self.num_threads,
            "parallel_trials": self.parallel_trials,
            "budget": attrs.asdict(self.budget),
            "proposer": attrs.asdict(self.proposer),
            "search": attrs.asdict(self.search),
            "sampler": sampler_spec(self.sampler),  # refuses what a resume could not rebuild
            "freeze": list(freeze),
            "pricing": None if self.pricing is None else attrs.asdict(self.pricing),
            "modules": list(program.modules),
            "trainset": [ex.to_dict() for ex in train],
            "valset": [ex.to_dict() for ex in val],
        }

    def _settings(self, program: Program, freeze: Sequence[str]) -> EngineSettings:
        parallel = self.parallel_trials
        if parallel is None:
            parallel = max(1, self.num_threads // max(1, self.search.minibatch_size))
        if not isinstance(program, CloneableProgram) or not callable(
            getattr(program, "clone", None)
        ):
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


class ZeroShotMIPRO(MIPRO):
    """Instructions only: the surrogate searches instruction candidates, no demos."""

    strategy = "zeroshot-mipro"

    def _adjust_search(self, search: SearchConfig) -> SearchConfig:
        return attrs.evolve(search, search_demos=False)


class BootstrapRandomSearch(MIPRO):
    """Demos only, random search (DSPy's ``BootstrapFewShotWithRandomSearch`` generalised)."""

    strategy = "bootstrap-random-search"

    def _default_sampler(self) -> Sampler:
        return RandomSampler()

    def _adjust_search(self, search: SearchConfig) -> SearchConfig:
        return attrs.evolve(search, search_instructions=False)


class RandomSearch(MIPRO):
    """The joint instruction + demo space of MIPRO, searched at random (no surrogate)."""

    strategy = "random-search"

    def _default_sampler(self) -> Sampler:
        return RandomSampler()


class MIPROPlusPlus(MIPRO):
    """MIPRO++: MIPRO whose proposer settings are themselves searched (``meta_optimize=True``)."""

    strategy = "mipro++"
    meta_optimize_default = True


class ZeroShotMIPROPlusPlus(ZeroShotMIPRO):
    """0-shot MIPRO++: instructions only, proposer settings searched."""

    strategy = "zeroshot-mipro++"
    meta_optimize_default = True


STRATEGIES: dict[str, type[MIPRO]] = {
    "mipro": MIPRO,
    "mipro++": MIPROPlusPlus,
    "zeroshot-mipro": ZeroShotMIPRO,
    "zeroshot-mipro++": ZeroShotMIPROPlusPlus,
    "bootstrap-random-search": BootstrapRandomSearch,
    "random-search": RandomSearch,
}


def optimize(
    program: Any,
    trainset: Iterable[Example],
    metric: Metric,
    *,
    valset: Iterable[Example] | None = None,
    proposer_lm: Any = None,
    budget: Budget | str = "light",
    seed: int = 0,
    num_threads: int = 8,
    strategy: str = "mipro",
    max_trials: int | None = None,
    max_lm_calls: int | None = None,
    max_seconds: float | None = None,
    num_candidates: int | None = None,
    minibatch_size: int | None = None,
    full_eval_every: int | None = None,
    max_bootstrapped_demos: int | None = None,
    max_labeled_demos: int | None = None,
    metric_threshold: float | None = None,
    max_errors: int | None = None,
    timeout: float | None = None,
    freeze: Sequence[str] = (),
    proposer: ProposerConfig | None = None,
    sampler: Sampler | None = None,
    executor: cf.Executor | None = None,
    parallel_trials: int | None = None,
    progress: Progress | bool | None = None,
    pricing: Pricing | None = None,
    journal: str | Path | None = None,
    overwrite: bool = False,
    dry_run: bool = False,
    screen_demos: bool | None = None,
    exclude_demos: Sequence[str] | None = None,
    pin_demos: Sequence[str] | None = None,
    outputs: Mapping[str, str] | None = None,
) -> OptimizationResult:
    """Optimize the prompts of ``program`` in place with MIPRO and return the result.

    ``program`` is a :class:`Program` or any framework object an installed adapter accepts (a
    LangChain runnable, a LlamaIndex query engine, ...). ``trainset`` feeds bootstrapping and the
    proposer; ``valset`` (default: a seeded 50 % split of ``trainset``) scores trials.
    ``metric(example, prediction, trace=None)`` (or ``metric(example, prediction)``) returns a
    number or bool; its signature is checked before any LM call. Budget caps
    (``max_trials``, ``max_lm_calls``, ``max_seconds``) are hard: past them no run starts (the
    ones in flight finish; see docs/reliability.md). ``executor``: a thread pool of yours to run
    on (a process pool is refused: runs share the program object). ``dry_run=True`` prints the
    estimated LM calls to standard error (to the logger with ``progress=False``, to your reporter
    if you pass one) without calling any model. ``progress``: ``None`` (default) draws a
    progress line on standard error when it is a terminal and logs to the ``mipro_core`` logger
    otherwise; ``True`` always draws it; ``False`` only logs; or a reporter object of yours.
    ``exclude_demos`` / ``pin_demos``: training example ids that never become demos / whose
    demos join every candidate demo set; ``screen_demos=False`` keeps bootstrapped traces whose
    earlier stages already wrote the gold answer on equal terms. ``outputs``: which gold field
    holds a module's output when the names differ (``{"module": "label"}`` or
    ``{"module.field": "label"}``), for labeled demos; a one-module, one-output program and data
    with one gold field need none. Afterwards ``program`` carries
    the winning prompts; ``result.save(path)`` writes them as JSON.
    """
    if strategy not in STRATEGIES:
        raise InvalidInputError(f"strategy must be one of {sorted(STRATEGIES)}, got {strategy!r}")
    base = Budget.from_name(budget) if isinstance(budget, str) else budget
    budget_value = attrs.evolve(
        base,
        **_given(
            max_trials=max_trials,
            max_lm_calls=max_lm_calls,
            max_seconds=max_seconds,
            num_candidates=num_candidates,
        ),
    )
    search = attrs.evolve(
        SearchConfig(),
        **_given(
            minibatch_size=minibatch_size,
            full_eval_every=full_eval_every,
            max_bootstrapped_demos=max_bootstrapped_demos,
            max_labeled_demos=max_labeled_demos,
            max_errors=max_errors,
            timeout=timeout,
            screen_demos=screen_demos,
            exclude_demos=exclude_demos,
            pin_demos=pin_demos,
            outputs=outputs,
        ),
        metric_threshold=metric_threshold,
    )
    optimizer = STRATEGIES[strategy](
        budget=budget_value,
        proposer=proposer,
        search=search,
        sampler=sampler,
        seed=seed,
        num_threads=num_threads,
        parallel_trials=parallel_trials,
        progress=progress,
        pricing=pricing,
    )
    return optimizer.optimize(
        program,
        trainset,
        metric,
        valset=valset,
        proposer_lm=proposer_lm,
        freeze=freeze,
        executor=executor,
        journal=journal,
        overwrite=overwrite,
        dry_run=dry_run,
    )


def _check_executor(executor: cf.Executor) -> None:
    """Refuse an executor that cannot run work (e.g. already shut down) before spending."""
    if isinstance(executor, cf.ProcessPoolExecutor):
        raise InvalidInputError(
            "optimize() needs an executor that runs work in this process (a thread pool): runs "
            "share the program object and its trace collectors, which cannot be sent to other "
            "processes; pass a ThreadPoolExecutor or none"
        )
    try:
        executor.submit(int).result()
    except RuntimeError as exc:
        raise InvalidInputError(
            f"the executor passed to optimize() cannot run work ({exc}); pass a live executor "
            "or none (mipro then manages its own thread pool)"
        ) from exc


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def split_data(
    trainset: Iterable[Example], valset: Iterable[Example] | None, val_size: int, seed: int
) -> tuple[tuple[Example, ...], tuple[Example, ...]]:
    """Train/validation sets; without a valset, a seeded split of the trainset (half each)."""
    train = _examples(trainset, "trainset")
    if valset is not None:
        val = _examples(valset, "valset")
    else:
        if len(train) < 2 * MIN_VALSET:
            raise InvalidInputError(
                f"trainset has {len(train)} example(s); without a valset at least "
                f"{2 * MIN_VALSET} are needed (half of them become the validation set)"
            )
        order = np.random.default_rng(np.random.SeedSequence([seed, 7])).permutation(len(train))
        cut = len(train) // 2
        val = tuple(train[int(i)] for i in order[cut:])
        train = tuple(train[int(i)] for i in order[:cut])
    if len(val) > val_size:
        order = np.random.default_rng(np.random.SeedSequence([seed, 11])).permutation(len(val))
        val = tuple(val[int(i)] for i in sorted(order[:val_size]))
    return train, val


def _check_journalable(*datasets: Sequence[Example]) -> None:
    """A journal stores examples as JSON: refuse values it cannot hold before creating it."""
    for data in datasets:
        for ex in data:
            try:
                canonical_json(ex.to_dict())
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(
                    f"example {ex.id} holds a value a journal cannot store as JSON ({exc}); "
                    "convert it (e.g. a date to an ISO string) or run without journal="
                ) from exc


def _examples(data: Iterable[Example], name: str) -> tuple[Example, ...]:
    if data is None or isinstance(data, (str, bytes)):
        raise InvalidInputError(f"{name} must be a sequence of mipro_core.Example")
    items = tuple(data)
    if not items:
        raise InvalidInputError(f"{name} is empty: pass at least a few mipro_core.Example objects")
    bad = [i for i, ex in enumerate(items) if not isinstance(ex, Example)]
    if bad:
        raise InvalidInputError(
            f"{name}[{bad[0]}] is a {type(items[bad[0]]).__name__}, not a mipro_core.Example; "
            "build examples with Example(inputs={...}, outputs={...})"
        )
    first: dict[str, int] = {}
    for i, ex in enumerate(items):
        j = first.setdefault(ex.id, i)
        if j != i and (ex.inputs != items[j].inputs or ex.outputs != items[j].outputs):
            # results are cached by example id: two different examples under one id would
            # share one result, and every score would be wrong
            raise InvalidInputError(
                f"{name}[{j}] and {name}[{i}] are different examples with the same id "
                f"{ex.id!r}; give each example its own id (or leave id empty for a content hash)"
            )
    return items


def check_inputs(
    program: Program,
    train: Sequence[Example],
    val: Sequence[Example],
    metric: Metric,
    freeze: Sequence[str],
) -> None:
    modules = program.modules
    if not modules:
        raise InvalidInputError("the program has no modules (no prompt to optimize)")
    if len(val) < MIN_VALSET:
        raise InvalidInputError(f"valset has {len(val)} example(s); at least {MIN_VALSET} needed")
    check_distinct(val, "valset", MIN_VALSET)
    unknown = [n for n in freeze if n not in modules]
    if unknown:
        raise InvalidInputError(
            f"freeze names unknown module(s) {unknown}; modules: {list(modules)}"
        )
    if len(freeze) == len(modules):
        raise InvalidInputError("every module is frozen: nothing left to optimize")
    check_modules_read_input(program, freeze)
    check_input_values(program, {"trainset": train, "valset": val})


def _proposer(program: Program, proposer_lm: Any, settings: EngineSettings) -> LM | None:
    """The proposer model: ``proposer_lm`` wrapped, else the program's own single model.

    Resolved before anything is spent or journaled: a run that proposes instructions and has
    no model fails here, not after the baseline.
    """
    from ._adapt import wrap_lm

    lm: LM | None = None
    if proposer_lm is not None:
        lm = wrap_lm(proposer_lm)
    elif callable(default := getattr(program, "default_lm", None)):
        found = default()
        lm = wrap_lm(found) if found is not None else None
    searched = [n for n in program.modules if n not in settings.freeze]
    if lm is None and settings.proposes_instructions(searched):
        raise InvalidInputError(
            "instruction proposal needs a proposer model, and the program has no single model "
            "of its own to use (it has none, or several): pass proposer_lm=... in Python "
            "(--proposer on the command line), any LM or a framework chat model"
        )
    return lm


def _replicas(program: Program, count: int) -> list[Program]:
    if count <= 1:
        return []
    clone = getattr(program, "clone", None)
    return [clone() for _ in range(count - 1)] if callable(clone) else []


def _dry_result(
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
) -> OptimizationResult:
    """Continue the run recorded in ``journal`` on ``program`` (rebuilt by your own code).

    The run replays from the start: every step already in the journal is served from it (no LM
    call is paid twice), the rest runs and is appended. With a deterministic LM the trial log and
    the final state equal those of an uninterrupted run.

    The journal is data: nothing in it is imported or run. Every record's checksum is verified
    first, and the journal's fingerprint of the program (module signatures, original
    instructions and demos), the data and the metric's name must match ``program`` and
    ``metric`` (freshly built, before any optimization); a mismatch is a :class:`JournalError`
    naming what differs. ``force=True`` resumes despite a fingerprint mismatch (never despite
    a failed checksum).
    """
    from ._adapt import adapt

    metric = checked_metric(metric)
    store = Journal.open(journal)
    try:
        store.verify()
        config = store.config
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
        optimizer.progress = progress
        _check_fingerprint(journal, config, fingerprint(prog, train, val, metric), force)
    except BaseException:
        store.close()
        raise
    settings = optimizer._settings(prog, freeze)
    estimate = estimate_cost(prog, len(train), len(val), settings)
    try:
        lm = _proposer(prog, proposer_lm, settings)
    except BaseException:
        store.close()
        raise
    return optimizer._run(
        prog, train, val, metric, settings, estimate, lm, executor, store, resumed=True
    )


def _recorded_run(
    journal: str | Path,
    config: Mapping[str, Any],
    sampler: Sampler | None,
    num_threads: int | None,
) -> tuple[MIPRO, tuple[Example, ...], tuple[Example, ...], tuple[str, ...]]:
    """The optimizer, data and frozen modules a journal's configuration records."""
    try:
        optimizer = STRATEGIES[config["strategy"]](
            budget=Budget(**config["budget"]),
            # a journal from before the repair round existed recorded a run without it
            proposer=ProposerConfig(**{"repair_round": False, **config["proposer"]}),
            search=SearchConfig(**config["search"]),
            sampler=sampler_from_spec(config["sampler"], sampler),
            seed=int(config["seed"]),
            num_threads=num_threads or int(config["num_threads"]),
            parallel_trials=config.get("parallel_trials"),
            pricing=Pricing(**config["pricing"]) if config.get("pricing") else None,
        )
        train = tuple(Example.from_dict(d) for d in config["trainset"])
        val = tuple(Example.from_dict(d) for d in config["valset"])
        freeze = tuple(config.get("freeze", ()))
    except (KeyError, TypeError, ValueError) as exc:
        raise JournalError(f"journal {journal} has an invalid run configuration: {exc}") from exc
    return optimizer, train, val, freeze


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
