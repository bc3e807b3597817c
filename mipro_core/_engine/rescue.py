"""A search without signal: repair rounds that try to create some before the run ends at 0.0.

When no trial has scored above 0, the sampler has nothing to learn from and more trials of the
same candidates cannot help. What can is an instruction written from the failing examples and
their expected answers (the repair round, :meth:`Rounds.repair_round` with the full
evaluations' failures): it usually names the answer's format. One such round is often not
enough with a weak proposer, so a search without signal runs up to :data:`MAX_RESCUE_ROUNDS`
of them, each drawing its own sample of failing runs (the newest included: the previous rescue
candidate's), while the call cap and the deadline leave room for the round and a full
evaluation of its candidate; the candidate takes the demo sets the search has tried least.
As soon as any trial scores above 0 the rescue stops and the search goes on (or ends) as it
would have.

Everything here reads the trial log and the engine's seeded streams, so a journaled run
replays its rescue rounds exactly on resume.
"""

from __future__ import annotations

import time
from collections import Counter

from .._variables import VariableKey
from .context import RunContext
from .ledger import Ledger
from .rounds import RoundResult, Rounds
from .space import SearchSpace
from .stop import StopPolicy, StopReason

MAX_RESCUE_ROUNDS = 3
"""The most repair rounds a search without signal runs to create some (the regular repair
round a search runs after ``full_eval_every`` trials is not counted)."""

_NO_SIGNAL_AFTER = (
    StopReason.COMPLETED,
    StopReason.EXHAUSTED,
    StopReason.ALL_EVALUATED,
    StopReason.NOTHING_TO_SEARCH,
)
"""Stops (no cap among them) that read as ``"no signal"`` when rescue rounds ran and still
nothing scored above 0."""


class Rescue:
    """The rescue rounds of one search.

    Args:
        ctx: the run.
        ledger: the trials so far (what says whether there is signal).
        stop: the caps.
        rounds: the proposal rounds; ``None`` without a proposer (no rescue then).
        minibatch: the runs a trial of a rescue candidate needs besides its full evaluation
            (the minibatch size; 0 when every trial is a full evaluation).
    """

    def __init__(
        self,
        ctx: RunContext,
        ledger: Ledger,
        stop: StopPolicy,
        rounds: Rounds | None,
        minibatch: int,
    ) -> None:
        self.ctx, self.ledger, self.stop, self.rounds = ctx, ledger, stop, rounds
        self.left = MAX_RESCUE_ROUNDS if ctx.settings.repairs and rounds is not None else 0
        """Rescue rounds this search may still run."""
        self.ran = 0
        """Rescue rounds run so far."""
        # a round is worth it only if its candidate can get its trial and a full evaluation
        self.runs = len(ctx.valset) + minibatch

    def signal(self) -> bool:
        """Whether any trial (the baseline's included) scored above 0."""
        return any(o.value > 0 for o in self.ledger.history)

    def pending(self) -> bool:
        """Whether a rescue round may still come: no signal yet and rounds left."""
        return self.left > 0 and not self.signal()

    def due(self) -> bool:
        """Whether a rescue round can run now: pending, and the call cap and the deadline
        leave room for the round's candidate to be scored and fully evaluated."""
        return self.pending() and self.stop.affordable(self.runs) and self._time_affords()

    def round(self, space: SearchSpace) -> RoundResult:
        """Run rescue rounds while :meth:`due`, until one writes a new instruction.

        Returns:
            The grown space and the configuration to try next; the space unchanged and
            nothing to try when no round ran or none wrote anything new.
        """
        while self.due():
            assert self.rounds is not None
            self.left -= 1
            self.ran += 1
            space, forced = self.rounds.repair_round(space, with_full=True)
            if forced:
                return space, [self._fresh_demos(space, params) for params in forced]
        return space, []

    def _fresh_demos(self, space: SearchSpace, params: dict[str, int]) -> dict[str, int]:
        """``params`` with each searched demo set replaced by the one the trials have tried
        least (the lowest index on ties): every configuration so far scored 0, so the rescue
        candidate also tries demos the search has not (labeled demos are often what gives a
        weak model its first right answers)."""
        fresh = dict(params)
        for name, count in space.variables.items():
            if VariableKey.parse(name).kind == "demos":
                tried = Counter(obs.params.get(name, 0) for obs in self.ledger.history)
                fresh[name] = min(range(count), key=lambda i: (tried[i], i))
        return fresh

    def reason(self, reason: StopReason) -> StopReason:
        """``reason``, or ``"no signal"`` when the search ended without a cap stopping it,
        rescue rounds ran and still nothing scored above 0."""
        if reason in _NO_SIGNAL_AFTER and self.ran and not self.signal():
            return StopReason.NO_SIGNAL
        return reason

    def _time_affords(self) -> bool:
        """Whether the time left before the deadline (if any) covers :attr:`runs` program
        runs at the mean pace of the runs so far."""
        if self.ctx.deadline is None:
            return True
        trials = self.ledger.trials
        runs = sum(len(t.example_ids) for t in trials)
        pace = sum(t.seconds for t in trials) / runs if runs else 0.0
        return self.ctx.deadline - time.monotonic() >= self.runs * pace
