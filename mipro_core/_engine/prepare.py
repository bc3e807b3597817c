"""Everything before the search: the baseline, unused-module pruning, bootstrapped demos, demo
sets, the proposer's grounding and the first instruction proposals."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

import attrs

from .._bootstrap import DemoPools, bootstrap_pools, build_demo_sets
from .._errors import BudgetExhaustedError, ErrorBudgetExceededError
from .._eval_records import RunRecord
from .._evaluate import Evaluator
from .._gold import resolve_outputs
from .._propose import Grounding, ProposerClient
from .context import RunContext
from .proposals import GroundingChains, Produced, propose_first
from .scoring import Scorer
from .space import DemoSets, SearchSpace
from .stop import StopPolicy, StopReason

logger = logging.getLogger("mipro_core.engine")


@attrs.frozen
class Prepared:
    """What the search starts from.

    Attributes:
        baseline: the unmodified program's validation score.
        searched: the modules being searched (after pruning the unused ones).
        space: the search space; the baseline's alone when ``stopped`` is set.
        grounding: what the proposer knows about the program and data.
        produced: the proposal settings of each proposed instruction (MIPRO++'s credit).
        stopped: why the run stopped before the search, if it did.
    """

    baseline: float
    searched: tuple[str, ...]
    space: SearchSpace
    grounding: Grounding = attrs.field(factory=Grounding)
    produced: Produced = attrs.field(factory=dict)
    stopped: StopReason | None = None


def prepare(
    ctx: RunContext,
    scorer: Scorer,
    stop: StopPolicy,
    client: ProposerClient | None,
    searched: Sequence[str],
) -> Prepared:
    """Score the baseline, then build the search space.

    The grounding starts as soon as one baseline run has succeeded (bad input fails before
    that) and runs beside the rest of the baseline and the bootstrap.

    Args:
        ctx: the run.
        scorer: scores the baseline (its trial is the run's first).
        stop: the caps.
        client: the proposer's client; ``None`` when no instruction will be proposed.
        searched: the modules to search (the grounding describes all of them).

    Returns:
        The prepared search; with ``stopped`` set (and the baseline's space) when Ctrl-C or a
        cap came before the search.

    Raises:
        ErrorBudgetExceededError: every baseline run failed, or too many did.
        BudgetExhaustedError: a cap ran out before the baseline was scored.
    """
    chains = None if client is None else GroundingChains(ctx, client, searched)
    with chains or contextlib.nullcontext():
        baseline, searched = _baseline(ctx, scorer, stop, searched, chains)
        if chains is not None:
            chains.start()
        try:
            return _build(ctx, scorer, searched, baseline, client, chains)
        except KeyboardInterrupt:
            logger.warning("interrupted before the search: keeping the original prompts")
            reason = StopReason.INTERRUPTED
            if chains is not None:
                chains.interrupted()  # their retries waiting out a backoff: not waited for
        except BudgetExhaustedError:
            reason = stop.budget_reason()
            logger.warning(
                "%s reached before the search: keeping the original prompts", reason.value
            )
    return Prepared(baseline, searched, SearchSpace.baseline(ctx.initial_state), stopped=reason)


def _baseline(
    ctx: RunContext,
    scorer: Scorer,
    stop: StopPolicy,
    searched: Sequence[str],
    chains: GroundingChains | None,
) -> tuple[float, tuple[str, ...]]:
    """The baseline score and the modules its runs called (see :func:`_used_modules`)."""
    ctx.progress.stage(f"evaluating the baseline on {len(ctx.valset)} validation examples")
    state = ctx.initial_state
    try:
        trial, outcome = scorer.score(
            "full", {}, state, ctx.valset, on_first_success=chains.start if chains else None
        )
    except ErrorBudgetExceededError as exc:
        raise ErrorBudgetExceededError(
            f"while scoring the unmodified program: {exc} Check that each example's "
            "inputs carry the fields the program needs and that its model is reachable."
        ) from exc
    if trial.score is None and trial.errors:
        raise ErrorBudgetExceededError(
            f"every run of the unmodified program failed (last error: "
            f"{scorer.evaluator.last_error}). Check that each example's inputs carry the fields "
            "the program needs and that its model is reachable."
        )
    if trial.score is None or not trial.complete:
        cap = stop.budget_reason().value
        raise BudgetExhaustedError(
            f"{cap} ran out while scoring the baseline; raise {cap} (the baseline alone "
            f"needs about {len(ctx.valset)} program runs)"
        )
    return trial.score, _used_modules(ctx, searched, outcome.records)


def _used_modules(
    ctx: RunContext, searched: Sequence[str], records: Sequence[RunRecord]
) -> tuple[str, ...]:
    """``searched`` without the modules no baseline run called: no trial could measure a change
    to them (a fallback that never fires, a branch no example takes).

    Only when every run is known: a run that failed or did not parse has no trace (its
    modules may have run), and one read from an older journal did not record them. When no
    run recorded any call at all, the adapter does not trace: everything stays searched.
    """
    if any(r.modules is None for r in records):
        return tuple(searched)
    called = {m for r in records for m in r.modules or ()}
    unused = [n for n in searched if n not in called]
    if not called or not unused:
        return tuple(searched)
    logger.warning(
        "module(s) %s never ran on the %d validation examples: left unchanged (no trial "
        "could measure a change to them); pass freeze=[...] to say so explicitly",
        unused,
        len(ctx.valset),
    )
    return tuple(n for n in searched if n in called)


def _build(
    ctx: RunContext,
    scorer: Scorer,
    searched: tuple[str, ...],
    baseline: float,
    client: ProposerClient | None,
    chains: GroundingChains | None,
) -> Prepared:
    """Bootstrap, build the demo sets, propose; journal the space."""
    if chains is not None:
        ctx.progress.stage("writing the grounding (data summary, program description)")
    demo_sets = _demo_sets(ctx, searched, _bootstrap(ctx, scorer, searched))
    instructions: dict[str, tuple[str, ...]] = {
        n: (ctx.initial_state[n].instruction,) for n in ctx.modules
    }
    grounding, produced = Grounding(), Produced()
    if client is not None and chains is not None:
        instructions, grounding, produced = propose_first(
            ctx,
            client,
            searched,
            demo_sets,
            chains.described_grounding(),
            chains.data_summary(),
        )
    space = SearchSpace.build(instructions, demo_sets, searched, ctx.settings.search)
    ctx.memo.put("space", "variables", dict(space.variables))
    ctx.memo.put("space", "instructions", {n: list(v) for n, v in instructions.items()})
    return Prepared(baseline, searched, space, grounding, produced)


def _bootstrap(ctx: RunContext, scorer: Scorer, searched: Sequence[str]) -> DemoPools:
    """Passing traces of the original program on training examples, for the demo sets."""
    settings = ctx.settings
    search, num_sets = settings.search, settings.budget.num_candidates
    wants_demos = search.search_demos and search.max_bootstrapped_demos > 0
    grounding_only = not wants_demos and settings.proposer.use_demos
    per_set = search.max_bootstrapped_demos if wants_demos else 3
    # enough passing traces to draw varied sets from, not a fresh pool per set
    wanted = per_set * max(2, (num_sets + 1) // 2) if (wants_demos or grounding_only) else 0
    if wanted:
        ctx.progress.stage(f"bootstrapping demos ({wanted} successful traces wanted)")
    pools = bootstrap_pools(
        scorer.evaluator,
        ctx.initial_state,
        {n: ctx.modules[n] for n in searched},
        ctx.trainset,
        wanted=wanted,
        threshold=search.metric_threshold,
        rng=ctx.rng["bootstrap"],
        batch_size=max(8, 2 * settings.num_threads),
        max_runs=_bootstrap_run_cap(ctx, scorer.evaluator),
        screen=search.screen_demos,
        exclude=search.exclude_demos,
        pin=search.pin_demos,
        keep_failures=scorer.keep_failures,
        gold_fields=resolve_outputs(ctx.modules, ctx.trainset, search.outputs),
    )
    if wanted and pools.successes == 0:
        logger.warning(
            "no training run passed the metric: nothing to bootstrap, the search continues "
            "with labeled demos and instructions only"
        )
    return pools


def _bootstrap_run_cap(ctx: RunContext, evaluator: Evaluator) -> int | None:
    """Under ``max_lm_calls``, bootstrapping may spend at most a fifth of the cap."""
    cap = ctx.settings.budget.max_lm_calls
    if cap is None:
        return None
    return max(8, cap // (5 * evaluator.budget.per_run_estimate(len(ctx.modules))))


def _demo_sets(ctx: RunContext, searched: Sequence[str], pools: DemoPools) -> DemoSets:
    """Every module's demo sets (the original demos first; one set for unsearched modules)."""
    search = ctx.settings.search
    originals = {n: ctx.initial_state[n].demos for n in ctx.modules}
    sets = build_demo_sets(
        pools,
        {n: originals[n] for n in searched},
        num_sets=ctx.settings.budget.num_candidates,
        max_bootstrapped=search.max_bootstrapped_demos if search.search_demos else 3,
        max_labeled=search.max_labeled_demos if search.search_demos else 0,
        rng=ctx.rng["demo_sets"],
    )
    for name in ctx.modules:
        sets.setdefault(name, (originals[name],))
    ctx.memo.put(
        "space",
        "demo_sets",
        {n: [[d.to_dict() for d in s] for s in v] for n, v in sets.items()},
    )
    return sets
