"""Batch proposals for parallel trials: ``sample_batch`` and the constant liar rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from mipro_core import InvalidInputError
from mipro_core.samplers import Observation, RandomSampler, TPESampler, sample_batch


class Greedy:
    """A third-party sampler without ``sample_batch``: the best observed configuration, else 0s."""

    def __init__(self) -> None:
        self.seen: list[list[Observation]] = []

    def sample(
        self,
        space: Mapping[str, int],
        history: Sequence[Observation],
        rng: np.random.Generator,
    ) -> dict[str, int]:
        self.seen.append(list(history))
        if not history:
            return dict.fromkeys(space, 0)
        best = max(history, key=lambda o: o.value)
        return {name: int(best.params.get(name, 0)) for name in space}


SPACE = {"a": 3, "b": 3}


def test_an_old_plugin_sees_pending_and_chosen_configurations_as_worst_score_trials() -> None:
    history = [Observation({"a": 1, "b": 1}, 0.9), Observation({"a": 0, "b": 2}, 0.2)]
    pending = [{"a": 2, "b": 2}]
    sampler = Greedy()
    batch = sample_batch(sampler, SPACE, history, pending, 3, np.random.default_rng(0))
    assert batch[0] == {"a": 1, "b": 1}  # the greedy choice first
    assert len({tuple(c.items()) for c in batch}) == 3  # later ones redrawn, not repeated
    assert pending[0] not in batch
    first = sampler.seen[0]
    assert first[:2] == history
    assert first[2] == Observation({"a": 2, "b": 2}, 0.2)  # the pending trial, at the worst score
    assert Observation({"a": 1, "b": 1}, 0.2) in sampler.seen[-1]  # the chosen one, lied too


def test_a_batch_fills_a_space_without_repeats_then_allows_them() -> None:
    tiny = {"a": 2}
    batch = sample_batch(Greedy(), tiny, [], [{"a": 0}], 2, np.random.default_rng(1))
    assert sorted(c["a"] for c in batch) == [0, 1]  # only 2 configurations: pending reused
    assert len(sample_batch(Greedy(), tiny, [], [], 3, np.random.default_rng(1))) == 3


def test_tpe_batch_spreads_out_after_start_up() -> None:
    rng = np.random.default_rng(3)
    space = {"i": 5, "d": 5}
    history = [
        Observation({"i": int(i), "d": int(d)}, float(i == 2) + 0.1 * float(d))
        for i, d in rng.integers(0, 5, size=(20, 2))
    ]
    sampler = TPESampler(n_startup_trials=5)
    for seed in range(10):
        batch = sample_batch(sampler, space, history, [], 4, np.random.default_rng(seed))
        assert len({tuple(sorted(c.items())) for c in batch}) == 4
        assert batch == sampler.sample_batch(space, history, [], 4, np.random.default_rng(seed))
    # the first of a batch with nothing pending is exactly the sequential proposal
    solo = sampler.sample(space, history, np.random.default_rng(7))
    assert sample_batch(sampler, space, history, [], 3, np.random.default_rng(7))[0] == solo


def test_random_batch_is_uniform_draws() -> None:
    batch = sample_batch(RandomSampler(), {"a": 50, "b": 50}, [], [], 3, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    assert batch == [RandomSampler().sample({"a": 50, "b": 50}, [], rng) for _ in range(3)]


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_a_bad_batch_size_is_rejected(k: object) -> None:
    with pytest.raises(InvalidInputError, match="batch size"):
        sample_batch(RandomSampler(), SPACE, [], [], k, np.random.default_rng(0))  # type: ignore[arg-type]


def test_a_sampler_batch_of_the_wrong_length_is_rejected() -> None:
    class Short(Greedy):
        def sample_batch(self, *args: object) -> list[dict[str, int]]:
            return [{"a": 0, "b": 0}]

    with pytest.raises(InvalidInputError, match="list of 2"):
        sample_batch(Short(), SPACE, [], [], 2, np.random.default_rng(0))


def test_parallel_trials_in_one_batch_try_different_configurations() -> None:
    """The engine asks a batch with the constant liar, so trials scored together differ."""
    from itertools import groupby

    import mipro_core as mc
    from tests.toy import ToyLM, toy_data, toy_metric, toy_program

    for seed in range(4):
        result = mc.optimize(
            toy_program(ToyLM(), stages=2),
            toy_data(16),
            toy_metric,
            valset=toy_data(12, offset=100),
            proposer_lm=ToyLM(),
            seed=seed,
            num_threads=8,
            parallel_trials=4,
            max_trials=12,
            minibatch_size=4,
            progress=False,
        )
        minibatch = [t for t in result.trials if t.kind == "minibatch"]
        # trials scored together share the run's call count when they were recorded
        for _, group in groupby(minibatch, key=lambda t: t.total_lm_calls):
            params = [tuple(sorted(t.params.items())) for t in group]
            assert len(params) == len(set(params)), (seed, params)
