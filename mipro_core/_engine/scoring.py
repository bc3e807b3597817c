"""Scoring configurations: one evaluation per trial, recorded in the ledger.

:meth:`Scorer.minibatches` is the seam for parallel trials: it scores several configurations
at once, each on its own program replica.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .._eval_records import EvalJob, EvalOutcome
from .._evaluate import Evaluator
from .._result import Trial
from .._types import Example, ProgramState
from .ledger import Ledger
from .space import SearchSpace, state_key


class Scorer:
    """Scores configurations on examples with the evaluator and records them as trials.

    Args:
        evaluator: runs the program.
        ledger: where trials are recorded.
        valset: the validation examples.
        minibatch_rng: draws the minibatches.
        keep_failures: whether failing runs keep what a proposer reads (see
            :meth:`EngineSettings.keeps_failures`); the search turns it off once no proposer
            will read them.
    """

    def __init__(
        self,
        evaluator: Evaluator,
        ledger: Ledger,
        valset: tuple[Example, ...],
        minibatch_rng: np.random.Generator,
        *,
        keep_failures: bool,
    ) -> None:
        self.evaluator = evaluator
        self.ledger = ledger
        self.valset = valset
        self.minibatch_rng = minibatch_rng
        self.keep_failures = keep_failures

    def score(
        self,
        kind: str,
        params: Mapping[str, int],
        state: ProgramState,
        examples: Sequence[Example],
        *,
        on_first_success: Callable[[], None] | None = None,
    ) -> tuple[Trial, EvalOutcome]:
        """Score ``state`` (the configuration ``params``) on ``examples`` as one trial.

        Raises:
            ErrorBudgetExceededError: too many runs failed.
        """
        started = time.monotonic()
        job = EvalJob(state_key(state), state, tuple(examples))
        outcome = self.evaluator.evaluate(
            [job], keep_failures=self.keep_failures, on_first_success=on_first_success
        )[0]
        trial = self.ledger.record(kind, params, job.examples, outcome, time.monotonic() - started)
        if kind == "full":
            self.ledger.keep_failures(job.examples, outcome, full=True)
        return trial, outcome

    def full(self, space: SearchSpace, params: dict[str, int]) -> Trial:
        """Score a configuration on the whole validation set."""
        return self.score("full", params, space.state_for(params), self.valset)[0]

    def minibatches(
        self, space: SearchSpace, asked: Sequence[dict[str, int]], size: int
    ) -> list[Trial]:
        """Score each configuration of ``asked`` on a fresh random minibatch of ``size``
        validation examples, all at once (one program replica each).

        Returns:
            One trial per configuration, in order.
        """
        jobs = []
        for params in asked:
            idx = self.minibatch_rng.choice(len(self.valset), size=size, replace=False)
            examples = tuple(self.valset[int(i)] for i in sorted(idx))
            state = space.state_for(params)
            jobs.append(EvalJob(state_key(state), state, examples))
        started = time.monotonic()
        outcomes = self.evaluator.evaluate(jobs, keep_failures=self.keep_failures)
        seconds = (time.monotonic() - started) / max(1, len(jobs))
        trials = []
        for params, job, outcome in zip(asked, jobs, outcomes, strict=False):
            trials.append(self.ledger.record("minibatch", params, job.examples, outcome, seconds))
            self.ledger.keep_failures(job.examples, outcome)
        return trials
