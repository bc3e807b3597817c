"""A journal records the sampler's full settings and resume rebuilds it exactly (#16 §4)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

import mipro_core as mc
from mipro_core.samplers import (
    Observation,
    RandomSampler,
    TPESampler,
    register_sampler,
    unregister_sampler,
)
from tests.toy import ToyLM, toy_data, toy_metric, toy_program


@attrs.frozen(kw_only=True)
class FirstOrRandom:
    """A third-party sampler with a setting: index 0 with probability ``p_first``."""

    p_first: float = 0.5

    def sample(
        self, space: Mapping[str, int], history: Sequence[Observation], rng: np.random.Generator
    ) -> dict[str, int]:
        return {
            name: 0 if rng.random() < self.p_first else int(rng.integers(count))
            for name, count in sorted(space.items())
        }


class Stateless:
    def sample(
        self, space: Mapping[str, int], history: Sequence[Observation], rng: np.random.Generator
    ) -> dict[str, int]:
        return dict.fromkeys(space, 0)


@pytest.fixture
def first_or_random() -> Iterator[str]:
    register_sampler("first-or-random", FirstOrRandom)
    yield "first-or-random"
    unregister_sampler("first-or-random")


def run(path: Path, lm: ToyLM, sampler: Any) -> mc.OptimizationResult:
    return mc.optimize(
        toy_program(lm),
        toy_data(40),
        toy_metric,
        valset=toy_data(60, 100),
        journal=path,
        sampler=sampler,
        minibatch_size=15,
        max_trials=8,
        num_candidates=4,
        num_threads=2,
        seed=2,
    )


def log(result: mc.OptimizationResult) -> list[Any]:
    return [t.log_entry() for t in result.trials]


def test_a_custom_gamma_is_refused_before_any_call(tmp_path: Path) -> None:
    """It resumed silently with the default gamma (other trials, calls paid twice)."""
    lm = ToyLM()
    with pytest.raises(mc.InvalidInputError, match=r"TPESampler.*gamma=.*journal"):
        run(tmp_path / "j.sqlite", lm, TPESampler(gamma=lambda n: 2))
    assert lm.calls == 0 and not (tmp_path / "j.sqlite").exists()
    # without a journal the same sampler runs
    result = mc.optimize(
        toy_program(ToyLM()), toy_data(40), toy_metric, sampler=TPESampler(gamma=lambda n: 2),
        max_trials=2, num_candidates=2, num_threads=2,
    )  # fmt: skip
    assert result.stopped_reason == "completed"


def test_tpe_settings_are_rebuilt_exactly_on_resume(tmp_path: Path) -> None:
    sampler = TPESampler(n_startup_trials=2, n_ei_candidates=5, prior_weight=3.0)
    first = run(tmp_path / "j.sqlite", ToyLM(), sampler)
    lm = ToyLM()
    again = mc.resume(tmp_path / "j.sqlite", toy_program(lm), toy_metric)
    assert lm.calls == 0 and log(again) == log(first)


def test_a_registered_custom_sampler_resumes_without_being_passed(
    tmp_path: Path, first_or_random: str
) -> None:
    """It raised JournalError ("pass sampler=... to resume()")."""
    first = run(tmp_path / "j.sqlite", ToyLM(), FirstOrRandom(p_first=0.8))
    lm = ToyLM()
    again = mc.resume(tmp_path / "j.sqlite", toy_program(lm), toy_metric)
    assert lm.calls == 0 and log(again) == log(first)


def test_an_unregistered_sampler_must_be_passed_again_and_match(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    first = run(path, ToyLM(), FirstOrRandom(p_first=0.8))
    with pytest.raises(mc.JournalError, match=r"'FirstOrRandom'.*not registered"):
        mc.resume(path, toy_program(ToyLM()), toy_metric)
    with pytest.raises(mc.JournalError, match=r"p_first.*0\.3.*p_first.*0\.8"):
        mc.resume(path, toy_program(ToyLM()), toy_metric, sampler=FirstOrRandom(p_first=0.3))
    with pytest.raises(mc.JournalError, match="RandomSampler"):
        mc.resume(path, toy_program(ToyLM()), toy_metric, sampler=RandomSampler())
    lm = ToyLM()
    again = mc.resume(path, toy_program(lm), toy_metric, sampler=FirstOrRandom(p_first=0.8))
    assert lm.calls == 0 and log(again) == log(first)


def test_a_stateless_plain_class_is_recordable_and_a_stateful_one_is_not(tmp_path: Path) -> None:
    run(tmp_path / "a.sqlite", ToyLM(), Stateless())
    stateful = Stateless()
    stateful.memory = [1]  # type: ignore[attr-defined]
    lm = ToyLM()
    with pytest.raises(mc.InvalidInputError, match=r"Stateless.*memory"):
        run(tmp_path / "b.sqlite", lm, stateful)
    assert lm.calls == 0
