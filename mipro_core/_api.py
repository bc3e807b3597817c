"""The public optimizers: ``optimize(...)``, :class:`MIPRO` and the paper's baselines."""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from ._config import Budget, Pricing, ProposerConfig, SearchConfig
from ._errors import InvalidInputError
from ._mipro import MIPRO
from ._progress import Progress
from ._protocols import EvaluationBackend, Metric
from ._result import OptimizationResult
from ._run_inputs import MIN_VALSET, check_inputs, split_data
from ._search._random import RandomSampler
from ._search._sampler import Sampler
from ._types import Example

__all__ = [
    "MIN_VALSET",
    "MIPRO",
    "STRATEGIES",
    "BootstrapRandomSearch",
    "MIPROPlusPlus",
    "RandomSearch",
    "ZeroShotMIPRO",
    "ZeroShotMIPROPlusPlus",
    "check_inputs",
    "optimize",
    "split_data",
]


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
    backend: EvaluationBackend | None = None,
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

    Afterwards ``program`` carries the winning prompts; ``result.save(path)`` writes them as
    JSON and :func:`mipro_core.apply` puts them into a freshly built program.

    Args:
        program: a :class:`Program` or any framework object an installed adapter accepts (a
            LangChain runnable, a LangGraph graph, a LlamaIndex query engine, ...).
        trainset: examples for bootstrapping demos and grounding the proposer.
        metric: ``metric(example, prediction, trace=None)`` or ``metric(example,
            prediction)``, returning a number or bool; its signature is checked before any
            LM call.
        valset: examples that score trials (default: a seeded 50 % split of ``trainset``).
        proposer_lm: the model that writes instructions (default: the program's own single
            model).
        budget: ``"light"``, ``"medium"``, ``"heavy"`` or a :class:`Budget`.
        seed: the seed of every random choice; a seed gives the same run.
        num_threads: program runs in flight at once.
        strategy: ``"mipro"`` or one of the baselines / MIPRO++ (``STRATEGIES``).
        max_trials, max_lm_calls, max_seconds: hard caps: past them no run or call starts
            (the ones in flight finish; docs/reliability.md).
        num_candidates, minibatch_size, full_eval_every, max_bootstrapped_demos,
            max_labeled_demos, metric_threshold, max_errors, timeout: override the budget's
            and :class:`SearchConfig`'s values.
        freeze: modules whose prompts stay as they are.
        proposer, sampler, pricing: a :class:`ProposerConfig`, a sampler
            (:mod:`mipro_core.samplers`), a :class:`Pricing` table for cost.
        executor: a thread pool of yours to run on (a process pool is refused: runs share the
            program object). Its threads run the program runs and proposer calls (with
            ``backend``, they wait on the remote runs); give it at least ``num_threads``
            workers, as ``num_threads`` still sizes batches and parallel trials.
        backend: where program runs happen instead of local threads, e.g.
            ``RayBackend(factory="app:build")`` from :mod:`mipro_core.integrations.ray` (the
            search, journal and budgets stay here; docs/scaling.md). ``num_threads`` runs are
            in flight on it, each waited on by a thread of ``executor`` (or of the pool
            ``optimize`` makes).
        parallel_trials: configurations scored at once on program clones (default:
            ``num_threads // minibatch_size``).
        progress: ``None`` draws a progress line on standard error when it is a terminal and
            logs to the ``mipro_core`` logger otherwise; ``True`` always draws it; ``False``
            only logs; or a reporter object of yours.
        journal, overwrite: a SQLite file every result is committed to as it happens
            (:func:`mipro_core.resume` continues it); ``overwrite`` replaces an existing one.
        dry_run: print the estimated LM calls to standard error without calling any model.
        screen_demos, exclude_demos, pin_demos: ``screen_demos=False`` keeps bootstrapped
            traces whose earlier stages already wrote the gold answer on equal terms; training
            example ids that never become demos / whose demos join every candidate set.
        outputs: which gold field of the data holds a module's output when their names differ,
            for labeled demos: ``{"module": "label"}`` (a module with one output) or
            ``{"module.field": "label"}``. Not needed when the names match, nor for a
            one-module program whose one output is its raw text (``Module.output_is_raw_text``)
            and data with one gold field; otherwise a warning names both before the run.

    Returns:
        The :class:`OptimizationResult`: scores, trials, the winning state, usage.

    Raises:
        InvalidInputError: bad settings, data, metric or program, before any LM call.
        NoAdapterError: no installed adapter accepts ``program``.
        BudgetExhaustedError: a cap ran out before the baseline was scored.
        ErrorBudgetExceededError: more runs failed than ``max_errors`` allows.
        MetricError: the metric raised or returned something that is not a number.
        JournalError: ``journal`` exists and ``overwrite`` is false.
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
        backend=backend,
        journal=journal,
        overwrite=overwrite,
        dry_run=dry_run,
    )


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
