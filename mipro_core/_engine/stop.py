"""Why a run stopped, and the rules that decide it."""

from __future__ import annotations

import enum
import time

from .._call_budget import CallBudget


class StopReason(str, enum.Enum):
    """Why a run stopped; the value is ``OptimizationResult.stopped_reason``."""

    COMPLETED = "completed"
    """Every planned trial ran."""
    NOTHING_TO_SEARCH = "nothing to search"
    """No module had more than one candidate."""
    EXHAUSTED = "search exhausted"
    """The sampler only revisited configurations already scored."""
    ALL_EVALUATED = "every configuration fully evaluated"
    """Every configuration of the space has a full-evaluation score."""
    NO_SIGNAL = "no signal"
    """No trial scored above 0, and the rescue rounds (see ``_engine/rescue.py``) found none."""
    MAX_LM_CALLS = "max_lm_calls"
    """The call cap left no room for another trial (and the final full evaluation)."""
    MAX_SECONDS = "max_seconds"
    """The time cap passed."""
    INTERRUPTED = "interrupted"
    """Ctrl-C."""


IDLE_TRIALS = 30
"""Stop after this many trials in a row that were answered entirely from the cache."""


class StopPolicy:
    """The call and time caps as questions the search asks before spending.

    Args:
        budget: the run's call accounting.
        deadline: ``max_seconds`` as a ``time.monotonic()`` point, if set.
        calls_per_run: the calls one program run is assumed to make before any has finished.
    """

    def __init__(self, budget: CallBudget, deadline: float | None, calls_per_run: int) -> None:
        self.budget = budget
        self.deadline = deadline
        self.calls_per_run = calls_per_run

    def budget_reason(self) -> StopReason:
        """Which cap stopped something (a refused run or retry): ``max_seconds`` once the
        deadline has passed, and also before it when the call cap cannot be what refused (none
        is set, or it still affords a run): a retry whose backoff would end past the deadline
        is refused before the deadline itself passes. Else ``max_lm_calls``."""
        if self.deadline is None:
            return StopReason.MAX_LM_CALLS
        if time.monotonic() >= self.deadline or self.budget.max_lm_calls is None:
            return StopReason.MAX_SECONDS
        remaining = self.budget.remaining()
        if remaining is not None and remaining >= self.budget.per_run_estimate(self.calls_per_run):
            return StopReason.MAX_SECONDS
        return StopReason.MAX_LM_CALLS

    def affordable(self, runs: int) -> bool:
        """Whether ``runs`` more program runs fit in what is left of ``max_lm_calls``."""
        remaining = self.budget.remaining()
        if remaining is None:
            return True
        return remaining >= runs * self.budget.per_run_estimate(self.calls_per_run)

    def before_trials(
        self, fully_scored: int, space_size: int, reserve_runs: int | None
    ) -> StopReason | None:
        """Whether the search must stop before its next trials.

        Args:
            fully_scored: configurations with a full-evaluation score.
            space_size: configurations in the space.
            reserve_runs: program runs the next trials and the final full evaluation need
                (``None`` when no final full evaluation follows the trials).

        Returns:
            The reason to stop, or ``None`` to go on.
        """
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return StopReason.MAX_SECONDS
        remaining = self.budget.remaining()
        if remaining is not None and remaining <= 0:
            return StopReason.MAX_LM_CALLS
        if fully_scored >= space_size:
            return StopReason.ALL_EVALUATED
        if reserve_runs is not None and not self.affordable(reserve_runs):
            return StopReason.MAX_LM_CALLS  # keep what a final full evaluation needs
        return None
