"""The run's record: trials, the sampler's history, full-evaluation scores and failing runs."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._call_budget import CallBudget
from .._config import Pricing
from .._eval_records import EvalOutcome, RunRecord
from .._memo import Memo
from .._result import Trial
from .._search import Observation
from .._types import Example
from .._variables import changed_count
from .space import config_key

KEPT_FAILURES = 60
"""The most recent failing runs kept for the proposer to read."""


class Ledger:
    """Everything the search has learnt so far; every trial is journaled as it is recorded.

    Args:
        memo: where trials and usage are journaled.
        budget: the run's call accounting (read for usage and totals).
        pricing: a price table for the cost, if any.
        started: ``time.monotonic()`` when the run started.
        on_trial: called with every trial once it is recorded (the observers' hook).
    """

    def __init__(
        self,
        memo: Memo,
        budget: CallBudget,
        *,
        pricing: Pricing | None,
        started: float,
        on_trial: Callable[[Trial], Any] | None = None,
    ) -> None:
        self.memo = memo
        self.budget = budget
        self.pricing = pricing
        self.started = started
        self.on_trial = on_trial
        self.trials: list[Trial] = []
        self.history: list[Observation] = []
        """What the sampler learns from: complete trials of configurations (not the baseline's
        own trial, which has no variables)."""
        self.full_scores: dict[str, float] = {}
        """Full-evaluation scores by :func:`config_key`."""
        self.failures: list[tuple[Example, RunRecord]] = []
        """The latest failing runs of minibatch trials that produced an answer, oldest first."""
        self.full_failures: list[tuple[Example, RunRecord]] = []
        """The same for full evaluations (the baseline's included): read only when the search
        has no signal (see ``SearchLoop._rescue``)."""

    def record(
        self,
        kind: str,
        params: Mapping[str, int],
        examples: tuple[Example, ...],
        outcome: EvalOutcome,
        seconds: float,
    ) -> Trial:
        """Record one scored configuration as the next trial: journal it, learn from it (when
        it is complete) and tell the ``on_trial`` hook.

        Args:
            kind: ``"full"`` or ``"minibatch"``.
            params: the configuration (empty for the baseline).
            examples: the examples it was scored on.
            outcome: what the evaluator returned.
            seconds: how long its scoring took.

        Returns:
            The trial.
        """
        score = outcome.mean
        best = self.trials[-1].best_score if self.trials else None
        if kind == "full" and outcome.complete and score is not None:
            best = score if best is None else max(best, score)
        trial = Trial(
            number=len(self.trials),
            kind="full" if kind == "full" else "minibatch",
            params=dict(params),
            score=score,
            example_ids=tuple(ex.id for ex in examples),
            errors=sum(1 for r in outcome.records if r.error is not None),
            malformed=sum(1 for r in outcome.records if r.malformed),
            lm_calls=sum(r.lm_calls for r in outcome.records),
            seconds=seconds,
            complete=outcome.complete,
            best_score=best,
            total_lm_calls=self.budget.used,
            elapsed=time.monotonic() - self.started,
        )
        self.trials.append(trial)
        self.memo.put("trial", f"{trial.number:06d}", trial.to_dict())
        self.memo.put("usage", "totals", self.usage())
        if trial.complete and trial.score is not None and params:
            if trial.kind == "full":
                self.full_scores[config_key(params)] = trial.score
            self.history.append(Observation(params, trial.score, trial.kind))
        if self.on_trial is not None:
            self.on_trial(trial)
        return trial

    def record_baseline(self, params: Mapping[str, int], score: float) -> None:
        """The baseline's score as the full score of the all-original configuration."""
        self.full_scores[config_key(params)] = score
        self.history.append(Observation(params, score, "full"))

    def keep_failures(
        self, examples: Sequence[Example], outcome: EvalOutcome, *, full: bool = False
    ) -> None:
        """Keep the failing runs of ``outcome`` that have an answer (the newest
        :data:`KEPT_FAILURES` overall) in :attr:`failures`, or :attr:`full_failures` for a full
        evaluation."""
        kept = self.full_failures if full else self.failures
        by_id = {ex.id: ex for ex in examples}
        kept.extend((by_id[r.example_id], r) for r in outcome.records if r.prediction is not None)
        del kept[:-KEPT_FAILURES]

    def best_by_minibatch(self, *, skip_fully_scored: bool) -> Mapping[str, int] | None:
        """The configuration with the best mean minibatch score (the first tried on ties);
        ``None`` when there is none (left)."""
        scores: dict[str, list[float]] = {}
        params_of: dict[str, Mapping[str, int]] = {}
        for obs in self.history:
            key = config_key(obs.params)
            if obs.kind != "minibatch" or (skip_fully_scored and key in self.full_scores):
                continue
            scores.setdefault(key, []).append(obs.value)
            params_of[key] = obs.params
        if not scores:
            return None
        order = list(scores)
        best = max(order, key=lambda k: (sum(scores[k]) / len(scores[k]), -order.index(k)))
        return params_of[best]

    def minibatch_examples(self, params: Mapping[str, int]) -> set[str]:
        """The ids of the examples ``params``'s minibatch trials ran on (cached already)."""
        key = config_key(params)
        return {
            example_id
            for trial in self.trials
            if trial.kind == "minibatch" and config_key(trial.params) == key
            for example_id in trial.example_ids
        }

    def best_full_score(self) -> float | None:
        """The best full-evaluation score so far (the baseline's included)."""
        return max(self.full_scores.values()) if self.full_scores else None

    def best_full(
        self, baseline: float, default: Mapping[str, int]
    ) -> tuple[float, Mapping[str, int]]:
        """The best complete full evaluation's score and configuration; ``(baseline,
        default)`` when none beat the baseline. Among configurations tied at the best score,
        the one closest to the original wins (the fewest variables off their original
        candidate 0), then the first one evaluated: a proposed instruction that only ties
        the original does not replace it."""
        best, best_params = baseline, default
        for trial in self.trials:
            if trial.kind != "full" or not trial.complete or trial.score is None:
                continue
            if trial.score > best or (
                trial.score == best and changed_count(trial.params) < changed_count(best_params)
            ):
                best, best_params = trial.score, trial.params
        return best, best_params

    def usage(self) -> dict[str, float | int | None]:
        """LM calls, tokens and (with a price table) cost spent so far."""
        budget, pricing = self.budget, self.pricing
        return {
            "lm_calls": budget.used,
            "task_lm_calls": budget.task_calls,
            "proposer_lm_calls": budget.proposer_calls,
            "prompt_tokens": budget.prompt_tokens,
            "completion_tokens": budget.completion_tokens,
            "cost": None
            if pricing is None
            else pricing.cost(budget.prompt_tokens, budget.completion_tokens),
        }
