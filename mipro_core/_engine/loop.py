"""The search: ask the sampler for configurations, score them on minibatches, give the best
ones full evaluations, and grow the space with proposal rounds, until a stop rule says so."""

from __future__ import annotations

import logging

from .._errors import BudgetExhaustedError
from .._result import Trial
from .._search import sample_batch
from .beside import with_repair_beside
from .context import RunContext
from .ledger import Ledger
from .repairs import RepairLog
from .rescue import Rescue
from .rounds import Rounds
from .scoring import Scorer
from .space import SearchSpace
from .stop import IDLE_TRIALS, StopPolicy, StopReason

logger = logging.getLogger("mipro_core.engine")

_FULL_EVAL_AFTER = (StopReason.COMPLETED, StopReason.MAX_LM_CALLS, StopReason.EXHAUSTED)
"""Stops after which the last trials' best configuration still gets its full evaluation."""


class SearchLoop:
    """One search over a prepared space.

    Args:
        ctx: the run.
        space: the prepared space (proposal rounds grow it; :attr:`space` is the latest).
        ledger: the trials so far (the baseline's).
        scorer: scores configurations.
        stop: the caps.
        rounds: the proposal rounds; ``None`` without a proposer.
        parallel: configurations scored at once (each on its own program replica).
    """

    def __init__(
        self,
        ctx: RunContext,
        space: SearchSpace,
        ledger: Ledger,
        scorer: Scorer,
        stop: StopPolicy,
        rounds: Rounds | None,
        parallel: int,
    ) -> None:
        self.ctx, self.space, self.ledger = ctx, space, ledger
        self.scorer, self.stop, self.rounds = scorer, stop, rounds
        self.parallel = parallel
        search = ctx.settings.search
        self.total = ctx.settings.budget.trials_for(len(space.variables))
        self.minibatch = min(search.minibatch_size, len(ctx.valset))
        self.use_minibatch = self.minibatch < len(ctx.valset)
        # runs a full evaluation needs: its configuration has a minibatch in the cache already
        self.full_eval_runs = len(ctx.valset) - self.minibatch
        self.meta = ctx.settings.proposer.meta_optimize and rounds is not None
        self.repair = ctx.settings.repairs and rounds is not None and self.use_minibatch
        trial_runs = self.minibatch if self.use_minibatch else 0  # besides a full evaluation
        self.rescue = Rescue(ctx, ledger, stop, rounds, trial_runs)
        self._forced: list[dict[str, int]] = []  # asked next: a rescue or side repair round's
        self.done = 0  # trials run so far
        self.repairs = RepairLog(ctx.memo)  # the repair and rescue rounds' candidates

    def run(self) -> StopReason:
        """Run the trials; the one place that decides why the search stopped.

        Returns:
            Why it stopped (:attr:`space` is the final space).
        """
        if not self.space.variables and not self._rescue():
            return self.rescue.reason(StopReason.NOTHING_TO_SEARCH)
        try:
            reason = self._trials()
            if self.use_minibatch and reason in _FULL_EVAL_AFTER:
                self._full_eval_best()  # the last trials' best gets its full evaluation
                self._tick()  # the bar's last count is the run's total, as in the summary
            return self.rescue.reason(reason)
        except BudgetExhaustedError:
            return self.stop.budget_reason()
        except KeyboardInterrupt:
            logger.warning("interrupted: returning the best fully evaluated configuration so far")
            return StopReason.INTERRUPTED

    def _trials(self) -> StopReason:
        """Batches of trials, with the periodic full evaluations and MIPRO++ rounds between
        them, until one is refused or all ran; returns why they ended."""
        search, proposer = self.ctx.settings.search, self.ctx.settings.proposer
        space = self.space
        each = (
            f"{self.total} trials on minibatches of {self.minibatch}, full evaluation every "
            f"{search.full_eval_every} trials"
            if self.use_minibatch
            else f"{self.total} trials, each a full evaluation (the minibatch covers the "
            f"{len(self.ctx.valset)} validation examples)"
        )
        self.ctx.progress.stage(
            f"searching {len(space.variables)} variables ({space.size()} configurations): {each}"
        )
        done, idle = 0, 0  # idle: trials in a row answered entirely from the cache
        next_full, next_round = search.full_eval_every, proposer.meta_round_every
        while done < self.total:
            if self.meta and len(self.ledger.full_scores) >= self.space.size():
                # every candidate is scored already: MIPRO++ proposes the next round now
                # rather than stopping before its rounds could add any
                next_round = done + proposer.meta_round_every
                self._round(meta=True)
            batch = self._affordable_batch(min(self.parallel, self.total - done))
            reserve = batch * self.minibatch + self.full_eval_runs
            reason = self.stop.before_trials(
                len(self.ledger.full_scores),
                self.space.size(),
                reserve if self.use_minibatch else None,
            )
            if reason is StopReason.ALL_EVALUATED and self._rescue():
                continue  # the space grew: its new configuration is asked next
            if reason is not None:
                return reason
            if done + batch >= self.total:  # the last batch of a search without signal
                self._rescue()  # tries a rescue round's candidate rather than end at 0.0
            asked = self._ask_batch(batch, done)
            spent = self.ledger.budget.used
            trials = self._score(asked)
            done += len(trials)
            if any(not t.complete for t in trials):
                return self.stop.budget_reason()
            idle = idle + len(trials) if self.ledger.budget.used == spent else 0
            if idle >= IDLE_TRIALS:
                return StopReason.EXHAUSTED  # the sampler keeps choosing what is scored
            if self.use_minibatch and done >= next_full and done < self.total:
                next_full += search.full_eval_every
                # skip it when the budget leaves no room for trials after it: the final
                # full evaluation, due right after, scores the same candidate
                runs = search.full_eval_every * self.minibatch + 2 * self.full_eval_runs
                if self.stop.affordable(runs):
                    self._full_eval_best(repair_beside=self._repair_follows(done))
            if self.meta and done >= next_round and done < self.total:
                next_round += proposer.meta_round_every
                self._round(meta=True)
            if done >= self.total and self.rescue.due():
                self.total = done + 1  # one more trial, for the next rescue round's candidate
            self.done = done
            if done < self.total or not self.use_minibatch:
                self._tick()  # the last one comes after the final full evaluation (run)
        return StopReason.COMPLETED

    def _affordable_batch(self, batch: int) -> int:
        """``batch``, or fewer trials when what is left of the call cap affords fewer (with
        the final full evaluation): parallel trials then run as many trials as one at a time
        would, instead of stopping a batch early."""
        if not self.use_minibatch:
            return batch
        while batch > 1 and not self.stop.affordable(batch * self.minibatch + self.full_eval_runs):
            batch -= 1
        return batch

    def _tick(self) -> None:
        self.ctx.progress.trials(
            self.done, self.total, self.ledger.best_full_score(), self.ledger.budget.used
        )

    # The ask and score steps are the seam for parallel trials: asking k configurations with
    # pending ones (a constant liar) and scoring them concurrently on cloned programs.

    def _ask_batch(self, batch: int, done: int) -> list[dict[str, int]]:
        """The next ``batch`` configurations: a repair round's first when it is due."""
        search = self.ctx.settings.search
        forced, self._forced = self._forced, []  # a side repair's or a rescue round's
        # else the repair is due with the batch holding trial full_eval_every + 1 (not later)
        if (
            not forced
            and self.repair
            and done + batch > search.full_eval_every
            and self.stop.affordable(search.full_eval_every * self.minibatch + self.full_eval_runs)
        ):
            forced = self._round(meta=False)
        wanted = batch - len(forced)
        if wanted <= 0:
            return forced
        # with several, the asks know of each other (a constant liar), so they diverge; one ask
        # with nothing pending is the sampler's plain sample()
        asked = sample_batch(
            self.ctx.settings.sampler,
            self.space.variables,
            self.ledger.history,
            forced,
            wanted,
            self.ctx.rng["sampler"],
        )
        return forced + [self.space.full_params(params) for params in asked]

    def _score(self, asked: list[dict[str, int]]) -> list[Trial]:
        """Score the asked configurations at once (on minibatches, or in full on a small
        validation set)."""
        if self.use_minibatch:
            return self.scorer.minibatches(self.space, asked, self.minibatch)
        return [self.scorer.full(self.space, params) for params in asked]

    def _rescue(self) -> bool:
        """When no trial scored above 0 and none is left to try (all fully evaluated, nothing
        to search, or the last batch), rescue rounds write instructions from the failing
        examples (see :class:`Rescue`). Returns whether the space grew (its new configuration
        is asked next)."""
        if not self.rescue.due():
            return False
        self.repair = False  # the regular repair round does not come after a rescue
        self.space, self._forced = self.repairs.note(self.space, self.rescue.round(self.space))
        self._repaired()
        return bool(self._forced)

    def _round(self, *, meta: bool) -> list[dict[str, int]]:
        """Run a proposal round; the space grows, the forced configurations are returned."""
        assert self.rounds is not None
        if meta:
            self.space, forced = self.rounds.meta_round(self.space)
        else:
            self.space, forced = self.repairs.note(self.space, self.rounds.repair_round(self.space))
            self._repaired()
        return forced

    def _repaired(self) -> None:
        """A repair round ran: the last reader of failing runs (MIPRO++ has none), unless
        the search has no signal and rescue rounds may still come."""
        self.repair = False  # one regular round per run
        self.scorer.keep_failures = self.rescue.pending()

    def _repair_follows(self, done: int) -> bool:
        """Whether the repair round is certain to come right after this full evaluation, so
        it can run beside it with the same result: without call or time cap, nothing but
        Ctrl-C or a failure stops the search between the two (every configuration fully
        scored would, so there must be room for more)."""
        return (
            self.repair
            and done >= self.ctx.settings.search.full_eval_every
            and self.ledger.budget.max_lm_calls is None
            and self.ctx.deadline is None
            and len(self.ledger.full_scores) + 1 < self.space.size()
        )

    def _full_eval_best(self, *, repair_beside: bool = False) -> None:
        """Score the untested configuration with the best mean minibatch score on all of val,
        when what is left of the call cap affords the runs not cached yet.

        With ``repair_beside`` the repair round (which reads only minibatch failures, never
        this evaluation) runs on a thread of its own meanwhile: its proposer calls no longer
        leave the threads idle between the two. Its result is taken up by the next ask.
        """
        if not repair_beside:
            self._full_eval_alone()
            return
        assert self.rounds is not None
        beside = with_repair_beside(self.rounds, self.space, self._full_eval_alone)
        self.space, self._forced = self.repairs.note(self.space, beside)
        self._repaired()

    def _full_eval_alone(self) -> None:
        best = self.ledger.best_by_minibatch(skip_fully_scored=True)
        if best is None:
            return
        params = dict(best)
        scored = self.ledger.minibatch_examples(params)
        if not self.stop.affordable(sum(1 for ex in self.ctx.valset if ex.id not in scored)):
            return
        self.scorer.full(self.space, params)
