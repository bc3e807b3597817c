"""What a Ctrl-C does to proposer calls running on threads of their own (a round's modules at
once, the repair round beside a full evaluation).

They are paid. Left running when ``optimize()`` returns, a call would be billed but missing
from the result, or journaled after the result was built. So a first Ctrl-C starts no other
proposer call (:meth:`ProposerClient.halt`) and lets those in flight finish, counted and
journaled like any other, for at most :data:`SETTLE_SECONDS`; a second Ctrl-C, or calls still
running then, are abandoned (:meth:`ProposerClient.abandon`): whatever they return is neither
counted nor written to the memo, though the provider may still bill them.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
from collections.abc import Sequence
from typing import Any

from .._propose import ProposerClient

logger = logging.getLogger("mipro_core.engine")

SETTLE_SECONDS = 30.0
"""How long a first Ctrl-C waits for proposer calls in flight on other threads."""


def wait_settled(futures: Sequence[cf.Future[Any]], seconds: float | None) -> bool:
    """Whether all ``futures`` finished within ``seconds`` (``None``: no limit); a Ctrl-C
    raises ``KeyboardInterrupt``."""
    _, pending = cf.wait(futures, timeout=seconds)
    return not pending


def settle(client: ProposerClient, futures: Sequence[cf.Future[Any]], seconds: float) -> bool:
    """After a Ctrl-C: halt ``client`` and wait for ``futures`` at most ``seconds``; abandon
    the client when they are not all done by then or on a second Ctrl-C. Returns whether
    they all finished."""
    client.halt()
    try:
        settled = wait_settled(futures, seconds)
    except KeyboardInterrupt:
        settled = False  # a second Ctrl-C: stop waiting now
    if not settled:
        client.abandon()
        logger.warning(
            "interrupted: the proposer calls in flight were abandoned (the provider may bill "
            "them; they are neither counted nor journaled)"
        )
    return settled
