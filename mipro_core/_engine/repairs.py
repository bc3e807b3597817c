"""Which instruction candidates the repair rounds wrote: the report labels them."""

from __future__ import annotations

from .._memo import Memo
from .rounds import RoundResult
from .space import SearchSpace


class RepairLog:
    """The instruction candidates the repair and rescue rounds wrote, per module, in order.

    A repair round adds one instruction to each module it writes for, so each pool it grew
    holds that round's candidate last. Journaled as ``("repairs", module)`` for the report (the
    round's own ``("repair", module)`` record keeps only the last); a resumed run rebuilds it
    as it replays the rounds.
    """

    def __init__(self, memo: Memo) -> None:
        self.memo = memo
        self.indices: dict[str, tuple[int, ...]] = {}

    def note(self, before: SearchSpace, result: RoundResult) -> RoundResult:
        """A repair round on ``before`` returned ``result`` (returned as is)."""
        for name, pool in result[0].instructions.items():
            index = len(before.instructions.get(name, ()))
            if len(pool) > index:
                self.indices[name] = (*self.indices.get(name, ()), index)
                self.memo.put("repairs", name, list(self.indices[name]))
        return result
