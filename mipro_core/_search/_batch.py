"""Batch proposals: ``k`` configurations at once, aware of the trials still being evaluated.

When several trials run at the same time, the configurations proposed together must not all be
the same guess. :func:`sample_batch` asks a sampler for ``k`` configurations given the history
*and* the configurations that are pending (proposed, not yet scored):

* a sampler that has its own ``sample_batch`` method (:class:`BatchSampler`) answers itself;
* any other sampler gets the **constant liar** rule: each pending configuration, and each one the
  batch has already chosen, is appended to the history as a minibatch observation valued at
  the liar score (the worst minibatch score observed, a pessimistic lie), then ``sample`` is
  called again. A model-based sampler then treats those places as already visited and bad, so
  the ``k`` asks spread out; a history-free sampler just draws ``k`` times.

Either way, a proposal equal to a pending or already-chosen configuration is drawn again (a few
times from the sampler, then uniformly among the configurations not yet taken), so the batch
holds distinct configurations whenever the space has enough of them. The batch is a pure
function of ``(space, history, pending, k, rng state)``: the same inputs give the same batch,
whatever the thread timing of the trials that produced the history.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from .._errors import InvalidInputError
from ._sampler import Observation, Sampler, validate_space

RETRIES = 4
"""How many times a duplicate proposal is asked again from the sampler before the batch draws
uniformly among the configurations not yet taken."""


@runtime_checkable
class BatchSampler(Sampler, Protocol):
    """A sampler that proposes ``k`` configurations at once itself (optional; see
    :func:`sample_batch` for the rule every other sampler gets).

    ``sample_batch`` returns ``k`` valid configurations (as :meth:`Sampler.sample` does), is a
    pure function of its arguments and the RNG state, and should return configurations distinct
    from each other and from ``pending`` when the space has enough of them.
    """

    def sample_batch(
        self,
        space: Mapping[str, int],
        history: Sequence[Observation],
        pending: Sequence[Mapping[str, int]],
        k: int,
        rng: np.random.Generator,
    ) -> list[dict[str, int]]: ...


def liar_value(history: Sequence[Observation]) -> float:
    """The constant lie for pending trials: the worst minibatch score observed (any score if
    there is no minibatch one; 0.0 for an empty history)."""
    minibatch = [o.value for o in history if o.kind == "minibatch"]
    values = minibatch or [o.value for o in history]
    return min(values) if values else 0.0


def sample_batch(
    sampler: Sampler,
    space: Mapping[str, int],
    history: Sequence[Observation],
    pending: Sequence[Mapping[str, int]],
    k: int,
    rng: np.random.Generator,
) -> list[dict[str, int]]:
    """``k`` configurations for trials that run alongside ``pending`` ones (in proposal order).

    Uses ``sampler.sample_batch`` when the sampler has one, else :func:`constant_liar_batch`.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"the batch size k must be an int >= 1, got {k!r}")
    own = getattr(sampler, "sample_batch", None)
    if callable(own):
        batch = own(space, history, pending, k, rng)
        if not isinstance(batch, list) or len(batch) != k:
            raise InvalidInputError(
                f"{type(sampler).__name__}.sample_batch() must return a list of {k} "
                f"configurations, got {batch!r}"
            )
        return batch
    return constant_liar_batch(sampler, space, history, pending, k, rng)


def constant_liar_batch(
    sampler: Sampler,
    space: Mapping[str, int],
    history: Sequence[Observation],
    pending: Sequence[Mapping[str, int]],
    k: int,
    rng: np.random.Generator,
    *,
    liar: float | None = None,
) -> list[dict[str, int]]:
    """``k`` sequential ``sample`` calls, each seeing pending and chosen configurations as
    observations valued at ``liar`` (default :func:`liar_value`); duplicates are redrawn."""
    names, counts = validate_space(space)
    lie = liar_value(history) if liar is None else float(liar)
    known = list(history)
    taken: list[dict[str, int]] = []
    for params in pending:
        config = {name: int(params.get(name, 0)) for name in names}
        if config not in taken:
            taken.append(config)
        known.append(Observation(config, lie))
    size = math.prod(int(c) for c in counts)
    batch: list[dict[str, int]] = []
    for _ in range(k):
        avoid = taken if size > len(taken) else batch if size > len(batch) else []
        config = sampler.sample(space, known, rng)
        for _ in range(RETRIES):
            if config not in avoid:
                break
            config = sampler.sample(space, known, rng)
        if config in avoid:
            config = _untaken(names, counts, avoid, rng)
        batch.append(config)
        taken.append(config)
        known.append(Observation(config, lie))
    return batch


def _untaken(
    names: Sequence[str],
    counts: np.ndarray,
    avoid: Sequence[Mapping[str, int]],
    rng: np.random.Generator,
) -> dict[str, int]:
    """A configuration uniformly drawn among those not in ``avoid`` (there must be one)."""
    taken = {tuple(c[name] for name in names) for c in avoid}
    for _ in range(64):  # rejection: cheap while most of the space is free
        row = tuple(int(x) for x in rng.integers(0, counts))
        if row not in taken:
            return dict(zip(names, row, strict=True))
    free = [row for row in np.ndindex(*(int(c) for c in counts)) if row not in taken]
    row = free[int(rng.integers(len(free)))]
    return {name: int(index) for name, index in zip(names, row, strict=True)}
