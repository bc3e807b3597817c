"""The repair round on a thread of its own beside the periodic full evaluation, and what a
Ctrl-C during that evaluation does to it.

The round's proposer calls are paid. Left running when ``optimize()`` returns, a call would be
billed but missing from the result, or journaled after the result was built. So a first Ctrl-C
starts no other proposer call and lets the one in flight finish (counted and journaled like any
other) for at most :data:`SETTLE_SECONDS`. A second Ctrl-C, or a call still running then, is
abandoned: whatever it returns is neither counted nor written to the memo (its reply, its
failure, the round's records), though the provider may still bill it. Either way nothing of the
round reaches the journal once ``optimize()`` returns, and a resumed run repeats the round as
the uninterrupted run did.
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
from collections.abc import Callable
from typing import Any

import attrs

from .._memo import Memo
from .._propose import ProposerClient
from .rounds import RoundResult, Rounds
from .settle import SETTLE_SECONDS, settle, wait_settled
from .space import SearchSpace


def with_repair_beside(
    rounds: Rounds, space: SearchSpace, evaluate: Callable[[], None]
) -> RoundResult:
    """Run ``evaluate`` with the repair round of ``rounds`` on ``space`` beside it; the round's
    result. A Ctrl-C during either is handled as the module says, then raised."""
    beside = RepairBeside(rounds, space)
    try:
        evaluate()
    except KeyboardInterrupt:
        beside.interrupt()  # the round's proposer call in flight settles (or is abandoned)
        raise
    finally:
        beside.wait()  # for the round (it is billed), but not after Ctrl-C
    return beside.result()


class RepairBeside:
    """The repair round of ``rounds`` on ``space``, started on a ``mipro-repair`` thread.

    The round writes its memo records through :meth:`ProposerClient.committing`, so that once
    the client is abandoned none of them lands.
    """

    def __init__(self, rounds: Rounds, space: SearchSpace) -> None:
        self.client = rounds.client
        gated = copy.copy(rounds)
        gated.ctx = attrs.evolve(rounds.ctx, memo=_Committed(rounds.ctx.memo, self.client))
        self._pool = cf.ThreadPoolExecutor(1, thread_name_prefix="mipro-repair")
        self._future = self._pool.submit(gated.repair_round, space)
        self._interrupted = False

    def interrupt(self) -> None:
        """Ctrl-C: no new proposer call; the one in flight may finish for
        :data:`SETTLE_SECONDS`, else (or on a second Ctrl-C) it is abandoned."""
        self._interrupted = True
        settle(self.client, [self._future], SETTLE_SECONDS)

    def wait(self) -> None:
        """Let the round end (its calls are billed), at once after :meth:`interrupt`; a
        Ctrl-C meanwhile is one during the round (:meth:`interrupt`, then raised)."""
        try:
            if not self._interrupted:
                wait_settled([self._future], None)
        except KeyboardInterrupt:
            self.interrupt()
            raise
        finally:
            self._pool.shutdown(wait=self._future.done(), cancel_futures=True)

    def result(self) -> RoundResult:
        """The round's result (after :meth:`wait`)."""
        return self._future.result()


class _Committed:
    """``memo``, whose writes are refused once ``client`` is abandoned (see
    :meth:`ProposerClient.committing`)."""

    def __init__(self, memo: Memo, client: ProposerClient) -> None:
        self._memo, self._client = memo, client

    def get(self, kind: str, key: str) -> Any:
        return self._memo.get(kind, key)

    def put(self, kind: str, key: str, value: Any) -> None:
        with self._client.committing():
            self._memo.put(kind, key, value)

    def event(self, kind: str, value: Any) -> None:
        with self._client.committing():
            self._memo.event(kind, value)
