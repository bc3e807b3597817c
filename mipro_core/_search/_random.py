"""Uniform random search: the reference sampler, and TPE's start-up phase."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
import numpy as np

from ._batch import constant_liar_batch
from ._sampler import IntArray, Observation, to_dict, validate_space


def uniform_configs(counts: IntArray, rng: np.random.Generator, size: int) -> IntArray:
    """``size`` configurations drawn independently and uniformly, shape ``(size, len(counts))``."""
    return rng.integers(0, counts, size=(size, len(counts)), dtype=np.int64)


@attrs.frozen
class RandomSampler:
    """Choose every variable's index uniformly at random, ignoring the history."""

    def sample(
        self,
        space: Mapping[str, int],
        history: Sequence[Observation],
        rng: np.random.Generator,
    ) -> dict[str, int]:
        names, counts = validate_space(space)
        return to_dict(names, uniform_configs(counts, rng, 1)[0])

    def sample_batch(
        self,
        space: Mapping[str, int],
        history: Sequence[Observation],
        pending: Sequence[Mapping[str, int]],
        k: int,
        rng: np.random.Generator,
    ) -> list[dict[str, int]]:
        """``k`` independent uniform draws, a draw equal to a pending or chosen one redrawn."""
        return constant_liar_batch(self, space, history, pending, k, rng)
