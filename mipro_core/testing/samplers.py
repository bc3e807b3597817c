"""The sampler conformance kit: one pytest class that proves a sampler honours mipro's contract.

A sampler's test suite subclasses :class:`SamplerConformanceTests` and says how to build the
sampler; every ``test_*`` method then runs against it::

    from mipro_core.testing.samplers import SamplerConformanceTests

    class TestMySampler(SamplerConformanceTests):
        def make_sampler(self):
            return MySampler(width=3)

The class name does not start with ``Test``, so pytest collects only your subclass. Needs
``hypothesis``. What is checked:

* **bounds**: for random spaces and histories, every variable of the space gets an index in
  ``range(space[name])`` and nothing else is returned;
* **determinism**: the same space, history and seed give the same configuration, and the
  order of the history and of the space's keys does not matter;
* **growing spaces**: after variables are added and existing ones gain categories, a history
  made along the way (older observations lack the newer variables) still gets a valid
  configuration; variables no longer in the space are ignored;
* **batch proposals** (:func:`mipro_core.samplers.sample_batch`, the sampler's own
  ``sample_batch`` or the constant liar rule): ``k`` valid configurations, the same for the same
  inputs and seed, distinct from each other and from the pending ones when the space has
  enough configurations; a batch of one with nothing pending is what ``sample`` proposes;
* **resume from recorded settings**: the sampler's settings are plain JSON data, and the
  sampler rebuilt from them by its registered name (as :func:`mipro_core.resume` does) makes
  the same proposals. Register the sampler first (install your distribution so its
  ``mipro.samplers`` entry point is visible, or call
  :func:`mipro_core.samplers.register_sampler` in a fixture); set ``registered = False`` to
  only check that the settings rebuild the sampler through its class.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .._search._batch import sample_batch
from .._search._registry import sampler_from_spec, sampler_spec
from .._search._sampler import Kind, Observation, Sampler

Case = tuple[dict[str, int], list[Observation]]
BatchCase = tuple[dict[str, int], list[Observation], list[dict[str, int]], int]
_KINDS: tuple[Kind, ...] = ("minibatch", "full")
_SHARED = [HealthCheck.differing_executors]
"""Every subclass runs the same test methods on its own sampler, on purpose."""

__all__ = ["SamplerConformanceTests", "growing_spaces", "spaces_and_histories"]


@st.composite
def spaces_and_histories(draw: st.DrawFn, max_history: int = 25) -> Case:
    """A random categorical space and a history of observations that fit it."""
    names = draw(st.lists(st.text("abcdxyz_.", min_size=1, max_size=3), max_size=5, unique=True))
    space = {name: draw(st.integers(1, 6)) for name in names}
    history = [
        Observation(
            {name: draw(st.integers(0, count - 1)) for name, count in space.items()},
            draw(st.floats(-10, 10)),
            draw(st.sampled_from(_KINDS)),
        )
        for _ in range(draw(st.integers(0, max_history)))
    ]
    return space, history


@st.composite
def growing_spaces(draw: st.DrawFn) -> Case:
    """A space that grew a few times during a run, with observations made along the way.

    Each growth step adds new variables and/or new categories to existing ones; observations
    made before a step lack the variables it added (they count as index 0).
    """
    names = iter(f"m{i}.{kind}" for i in range(20) for kind in ("instruction", "demos"))
    space = {next(names): draw(st.integers(1, 4)) for _ in range(draw(st.integers(0, 3)))}
    history: list[Observation] = []
    for _ in range(draw(st.integers(1, 4))):
        for _ in range(draw(st.integers(0, 8))):
            params = {name: draw(st.integers(0, count - 1)) for name, count in space.items()}
            kind = draw(st.sampled_from(_KINDS))
            history.append(Observation(params, draw(st.floats(-1, 1)), kind))
        grown = draw(st.lists(st.sampled_from(sorted(space)), unique=True)) if space else []
        for name in grown:
            space[name] += draw(st.integers(1, 3))
        for _ in range(draw(st.integers(0, 2))):
            space[next(names)] = draw(st.integers(1, 4))
    return space, history


@st.composite
def batch_cases(draw: st.DrawFn) -> BatchCase:
    """A space and history, configurations pending in it, and a batch size ``k``."""
    space, history = draw(spaces_and_histories(max_history=15))
    config = st.fixed_dictionaries({n: st.integers(0, c - 1) for n, c in space.items()})
    pending = draw(st.lists(config, max_size=3))
    return space, history, pending, draw(st.integers(1, 4))


def _check(proposal: Mapping[str, int], space: Mapping[str, int]) -> None:
    assert isinstance(proposal, dict), f"sample() returned {type(proposal).__name__}, not dict"
    assert set(proposal) == set(space), f"variables {sorted(proposal)} != {sorted(space)}"
    for name, count in space.items():
        index = proposal[name]
        assert isinstance(index, int) and not isinstance(index, bool), (name, index)
        assert 0 <= index < count, f"{name}={index} is outside range({count})"


class SamplerConformanceTests:
    """Subclass, implement :meth:`make_sampler`, and pytest runs the contract's checks."""

    registered: ClassVar[bool] = True
    """Whether the sampler's class is registered by name (so resume can rebuild it)."""

    def make_sampler(self) -> Sampler:
        raise NotImplementedError("implement make_sampler() to return the sampler under test")

    def _sample(self, space: Mapping[str, int], history: Sequence[Observation], seed: int) -> Any:
        return self.make_sampler().sample(space, history, np.random.default_rng(seed))

    @given(case=spaces_and_histories(), seed=st.integers(0, 2**32))
    @settings(max_examples=20, deadline=None, suppress_health_check=_SHARED)
    def test_every_variable_gets_a_valid_index(self, case: Case, seed: int) -> None:
        """Out-of-range indices usually come from sampling ``[0, count]`` instead of
        ``[0, count)`` or from ignoring variables that have one category."""
        space, history = case
        _check(self._sample(space, history, seed), space)

    @given(case=spaces_and_histories(), seed=st.integers(0, 2**32), data=st.data())
    @settings(max_examples=15, deadline=None, suppress_health_check=_SHARED)
    def test_same_inputs_and_seed_give_the_same_configuration(
        self, case: Case, seed: int, data: st.DataObject
    ) -> None:
        """Differences usually come from a global RNG (``random``, ``np.random``) or a clock
        instead of the ``rng`` argument, from state kept between calls, or from iterating a
        dict or set in insertion order."""
        space, history = case
        first = self._sample(space, history, seed)
        assert self._sample(space, history, seed) == first
        shuffled_history = data.draw(st.permutations(history))
        shuffled_space = dict(data.draw(st.permutations(sorted(space.items()))))
        assert self._sample(shuffled_space, shuffled_history, seed) == first

    @given(case=growing_spaces(), seed=st.integers(0, 2**32))
    @settings(max_examples=20, deadline=None, suppress_health_check=_SHARED)
    def test_a_grown_space_gets_a_valid_configuration(self, case: Case, seed: int) -> None:
        """A crash here usually means the sampler indexes ``observation.params[name]`` for a
        variable the observation predates: use ``complete_params(space, params)``."""
        space, history = case
        _check(self._sample(space, history, seed), space)
        if space:  # a variable that is no longer searched (frozen) is ignored
            smaller = dict(sorted(space.items())[1:])
            _check(self._sample(smaller, history, seed), smaller)

    def _batch(self, case: BatchCase, seed: int) -> list[dict[str, int]]:
        space, history, pending, k = case
        rng = np.random.default_rng(seed)
        return sample_batch(self.make_sampler(), space, history, pending, k, rng)

    @given(case=batch_cases(), seed=st.integers(0, 2**32))
    @settings(max_examples=15, deadline=None, suppress_health_check=_SHARED)
    def test_a_batch_is_k_valid_configurations_the_same_for_a_seed(
        self, case: BatchCase, seed: int
    ) -> None:
        """Differences usually come from state kept between the ``k`` asks or a global RNG; a
        wrong count or an invalid entry from a ``sample_batch`` method of the sampler."""
        space, _, _, k = case
        batch = self._batch(case, seed)
        assert len(batch) == k, f"asked for {k} configurations, got {len(batch)}"
        for proposal in batch:
            _check(proposal, space)
        assert self._batch(case, seed) == batch

    @given(case=spaces_and_histories(max_history=15), seed=st.integers(0, 2**32))
    @settings(max_examples=10, deadline=None, suppress_health_check=_SHARED)
    def test_a_batch_of_one_with_nothing_pending_is_the_sequential_proposal(
        self, case: Case, seed: int
    ) -> None:
        """So a run with one trial at a time proposes the same whether the engine asks for a
        batch or not. A failure usually means a ``sample_batch`` method draws from the RNG
        before its first ``sample`` (or lies about trials when none is pending)."""
        space, history = case
        rng = np.random.default_rng
        batch = sample_batch(self.make_sampler(), space, history, [], 1, rng(seed))
        assert batch == [self._sample(space, history, seed)]

    @given(case=batch_cases(), seed=st.integers(0, 2**32))
    @settings(max_examples=15, deadline=None, suppress_health_check=_SHARED)
    def test_a_batch_is_distinct_when_the_space_allows(self, case: BatchCase, seed: int) -> None:
        """Repeats usually come from a ``sample_batch`` method that ignores ``pending`` or the
        configurations it already chose; the default (constant liar) redraws duplicates."""
        space, _, pending, k = case
        size = math.prod(space.values())
        batch = self._batch(case, seed)
        keys = [tuple(sorted(c.items())) for c in batch]
        if size >= k:
            assert len(set(keys)) == k, f"repeated configurations in {batch}"
        if size >= k + len({tuple(sorted(p.items())) for p in pending}):
            assert not {tuple(sorted(p.items())) for p in pending} & set(keys), (
                f"the batch {batch} repeats a pending configuration of {pending}"
            )

    @given(case=spaces_and_histories(max_history=12), seed=st.integers(0, 2**32))
    @settings(max_examples=10, deadline=None, suppress_health_check=_SHARED)
    def test_rebuilt_from_recorded_settings_it_proposes_the_same(
        self, case: Case, seed: int
    ) -> None:
        """A failure usually means ``settings()`` (or an attrs field) misses a setting the
        constructor takes, or a setting is not plain JSON data."""
        sampler = self.make_sampler()
        spec = json.loads(json.dumps(sampler_spec(sampler), allow_nan=False))
        if self.registered:
            assert spec["name"] is not None, "the sampler's class is not registered by name"
            rebuilt = sampler_from_spec(spec, None)
        else:
            rebuilt = type(sampler)(**spec["params"])
            assert sampler_from_spec(spec, rebuilt) is rebuilt
        space, history = case
        rng = np.random.default_rng
        assert rebuilt.sample(space, history, rng(seed)) == sampler.sample(
            space, history, rng(seed)
        )
