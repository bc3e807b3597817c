"""What one run was asked to do, and the random streams it draws from."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

from .._config import Budget, Pricing, ProposerConfig, SearchConfig
from .._search import Sampler

RNG_STREAMS = (
    "split",
    "bootstrap",
    "demo_sets",
    "proposals",
    "sampler",
    "minibatch",
    "meta",
    "repair",
)
"""One random generator per component, spawned from the seed in this order (adding a stream at
the end leaves the others' draws unchanged)."""


def rng_streams(seed: int) -> dict[str, np.random.Generator]:
    """The run's random generators, one per name of :data:`RNG_STREAMS`.

    Args:
        seed: the run's seed.

    Returns:
        A generator per stream name; the same seed gives the same draws.
    """
    seeds = np.random.SeedSequence(seed).spawn(len(RNG_STREAMS))
    return {name: np.random.default_rng(s) for name, s in zip(RNG_STREAMS, seeds, strict=True)}


@attrs.frozen(kw_only=True)
class EngineSettings:
    """Everything a run was configured with (the public options, resolved).

    Attributes:
        strategy: the name of the preset or strategy the run used (recorded in the result).
        budget: the call, time and trial caps and the candidate counts.
        proposer: how instructions are proposed.
        search: how the joint space is searched and evaluated.
        sampler: the search strategy choosing configurations.
        seed: the seed of every random stream.
        freeze: modules left unchanged.
        parallel_trials: trials scored at once (on as many program replicas).
        pricing: a price table for the cost, if any.
        num_threads: program runs in flight at once.
    """

    strategy: str
    budget: Budget
    proposer: ProposerConfig
    search: SearchConfig
    sampler: Sampler
    seed: int
    freeze: tuple[str, ...] = ()
    parallel_trials: int = 1
    pricing: Pricing | None = None
    num_threads: int = 8

    def initial_candidates(self) -> int:
        """Instruction candidates per module proposed before the search (MIPRO++ proposes
        half of them up front and the rest in rounds during the search)."""
        count = self.budget.num_candidates
        return max(2, count // 2) if self.proposer.meta_optimize else count

    def proposes_instructions(self, searched: Sequence[str]) -> bool:
        """Whether a run searching ``searched`` calls the proposer model."""
        return self.search.search_instructions and self.initial_candidates() >= 2 and bool(searched)

    @property
    def repairs(self) -> bool:
        """Whether the search has a repair round (MIPRO++'s rounds show failures instead)."""
        return self.proposer.repair_round and not self.proposer.meta_optimize

    def keeps_failures(self, searched: Sequence[str]) -> bool:
        """Whether failing runs keep their trace and output for a proposer to read."""
        if not self.proposes_instructions(searched):
            return False
        return self.repairs or (self.proposer.meta_optimize and self.proposer.use_failures)
