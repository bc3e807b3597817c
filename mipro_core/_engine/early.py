"""Early trials: while the proposer writes the first instructions, score demo sets on the
original instructions, so that many threads are not left idle waiting for it.

The data summary is a chain of up to ``max_data_batches + 1`` sequential proposer calls and the
instruction proposals wait for it: with parallel trials (``k > 1``, many threads) the search
would otherwise start only after it, on threads that sat idle meanwhile. Instead a fixed number
of batches of ``k`` trials runs beside the proposer, in the space of the demo sets alone (every
instruction its original, candidate 0, which every space has). How many depends only on the
settings, the data and the calls spent so far by program runs, never on the thread timing, so
a seed gives the same trials in the same order. When the proposals arrive the instruction
variables join the space: an observation without them had candidate 0, as for any space that
grows during a run.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections.abc import Sequence

from .._evaluate import Evaluator
from .._result import Trial
from .._search import sample_batch
from .context import RunContext
from .scoring import Scorer
from .settings import EngineSettings
from .space import SearchSpace

EARLY_BATCHES = 2
"""At most this many batches of early trials (each of ``k`` trials)."""


def trial_slots(settings: EngineSettings, evaluator: Evaluator) -> int:
    """The trials scored at once: ``parallel_trials``, at most one per program replica."""
    return max(1, min(settings.parallel_trials, len(evaluator.replicas)))


def early_batches(
    ctx: RunContext, space: SearchSpace, searched: Sequence[str], parallel: int
) -> int:
    """How many batches of ``parallel`` early trials to run in ``space`` (the demo sets' alone)
    while the first instructions are proposed; 0 for none.

    None without parallel trials (the default thread count keeps one search after the
    other), under MIPRO++ (its rounds propose during the search), with a time cap (whatever
    depends on the clock is not repeatable), without minibatch trials or demo sets to search.
    They take at most half of the search's trials. Under a call cap they run only if the cap
    certainly affords them beside every proposer call of the preparation (without retries)
    and a trial and full evaluation after them: no run of theirs can then be refused,
    whichever call comes first.
    """
    settings, search = ctx.settings, ctx.settings.search
    minibatch = min(search.minibatch_size, len(ctx.valset))
    if (
        parallel < 2
        or settings.proposer.meta_optimize
        or ctx.deadline is not None
        or not space.variables
        or minibatch >= len(ctx.valset)
    ):
        return 0
    variables = len(space.variables) + (len(searched) if search.search_instructions else 0)
    batches = min(EARLY_BATCHES, settings.budget.trials_for(variables) // 2 // parallel)
    cap = ctx.budget.max_lm_calls
    if cap is None:
        return batches
    per_run = ctx.budget.per_run_estimate(len(ctx.modules))
    fixed = ctx.budget.task_calls + _preparation_proposer_calls(settings, len(searched))
    after = len(ctx.valset)  # a trial and the full evaluation of its configuration
    while batches and fixed + (batches * parallel * minibatch + after) * per_run > cap:
        batches -= 1
    return batches


def _preparation_proposer_calls(settings: EngineSettings, modules: int) -> int:
    """At most how many proposer calls the preparation makes (retries aside)."""
    proposer = settings.proposer
    proposals = modules * (settings.initial_candidates() - 1)
    calls = 2 * proposals  # an observation of the demo set before each proposal
    if proposer.use_data_summary:
        calls += proposer.max_data_batches + 1
    if proposer.use_program_summary:
        calls += 1 + modules
    return calls


class EarlyTrials:
    """Runs the early trials on a thread of its own while the caller proposes.

    Use as a context manager: entering records the baseline (the sampler's first observation)
    and starts the trials; leaving stops them after their current batch, waits for them
    (unless Ctrl-C) and raises what made them fail.

    Args:
        ctx: the run.
        scorer: scores and records the trials.
        space: the demo sets' space (every instruction its original).
        baseline: the baseline's score.
        batches: how many batches (see :func:`early_batches`).
        parallel: trials per batch.
    """

    def __init__(
        self,
        ctx: RunContext,
        scorer: Scorer,
        space: SearchSpace,
        baseline: float,
        batches: int,
        parallel: int,
    ) -> None:
        self.ctx, self.scorer, self.space = ctx, scorer, space
        self.baseline, self.batches, self.parallel = baseline, batches, parallel
        self.done = 0
        """The early trials scored (all of them once the context is left normally)."""
        self._stop = threading.Event()
        self._thread = cf.ThreadPoolExecutor(1, thread_name_prefix="mipro-early")
        self._future: cf.Future[None] | None = None

    def __enter__(self) -> EarlyTrials:
        if self.batches:
            self.scorer.ledger.record_baseline(self.space.full_params({}), self.baseline)
            self._future = self._thread.submit(self._run)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None:  # else every batch runs, however soon the proposals came
            self._stop.set()
        interrupted = exc_type is not None and issubclass(exc_type, KeyboardInterrupt)
        self._thread.shutdown(wait=not interrupted, cancel_futures=True)
        if exc_type is None and self._future is not None:
            self._future.result()  # an error budget exceeded, a metric error

    def _run(self) -> None:
        ctx, space = self.ctx, self.space
        minibatch = min(ctx.settings.search.minibatch_size, len(ctx.valset))
        for _ in range(self.batches):
            if self._stop.is_set():
                return
            asked = sample_batch(
                ctx.settings.sampler,
                space.variables,
                self.scorer.ledger.history,
                [],
                self.parallel,
                ctx.rng["sampler"],
            )
            trials: list[Trial] = self.scorer.minibatches(
                space, [space.full_params(p) for p in asked], minibatch
            )
            self.done += len(trials)
            if any(not t.complete for t in trials):
                return  # a cap ran out after all: the search stops at its first check
