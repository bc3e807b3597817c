"""The LM-call estimate a run prints before it spends anything (``dry_run=True``)."""

from __future__ import annotations

from ._engine import EngineSettings
from ._protocols import Program
from ._result import CostEstimate


def estimate_cost(
    program: Program,
    trainset_size: int,
    valset_size: int,
    settings: EngineSettings,
) -> CostEstimate:
    """Upper-bound LM calls for a run, before spending anything."""
    search, budget, proposer = settings.search, settings.budget, settings.proposer
    modules = [n for n in program.modules if n not in settings.freeze]
    n = budget.num_candidates
    wants_demos = search.search_demos and search.max_bootstrapped_demos > 0
    bootstrap = (
        min(trainset_size, 4 * n * max(1, search.max_bootstrapped_demos))
        if (wants_demos or proposer.use_demos)
        else 0
    )
    proposer_calls = 0
    if search.search_instructions and n > 1:
        proposer_calls = len(modules) * (n - 1)
        if proposer.use_demos and proposer.observe_demos:  # an observation before each proposal
            proposer_calls *= 2
        if proposer.use_data_summary:
            proposer_calls += proposer.max_data_batches + 1
        if proposer.use_program_summary:
            proposer_calls += 1 + len(modules)
        if settings.repairs:
            proposer_calls += len(modules)  # the repair round
    variables = len(modules) * (int(search.search_instructions) + int(search.search_demos))
    trials = budget.trials_for(max(1, variables))
    minibatch = min(search.minibatch_size, valset_size)
    full_evals = 2 + trials // search.full_eval_every  # baseline, every S trials, final
    return CostEstimate(
        bootstrap_runs=bootstrap,
        proposer_calls=proposer_calls,
        trials=trials,
        minibatch_size=minibatch,
        full_evals=full_evals,
        val_size=valset_size,
        calls_per_run=max(1, len(program.modules)),
    )
