"""Our samplers pass the sampler conformance kit; sampler entry points load like adapters."""

from __future__ import annotations

import importlib.metadata
import warnings
from collections.abc import Iterator

import pytest

from mipro_core import InvalidInputError
from mipro_core._search import _registry
from mipro_core.plugins import PluginWarning
from mipro_core.samplers import (
    RandomSampler,
    Sampler,
    TPESampler,
    available_samplers,
    make_sampler,
)
from mipro_core.testing.samplers import SamplerConformanceTests


class TestTPE(SamplerConformanceTests):
    def make_sampler(self) -> Sampler:
        return TPESampler(n_startup_trials=3, n_ei_candidates=8)


class TestTPEUnivariate(SamplerConformanceTests):
    def make_sampler(self) -> Sampler:
        return TPESampler(n_startup_trials=0, multivariate=False, consider_full_evals=False)


class TestRandom(SamplerConformanceTests):
    def make_sampler(self) -> Sampler:
        return RandomSampler()


@pytest.fixture
def entry_points(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[importlib.metadata.EntryPoint]]:
    found: list[importlib.metadata.EntryPoint] = []
    monkeypatch.setattr(_registry, "_entry_points", lambda: found)
    _registry.reset_samplers()
    yield found
    _registry.reset_samplers()


def test_entry_points_add_named_samplers_and_broken_ones_are_skipped(
    entry_points: list[importlib.metadata.EntryPoint],
) -> None:
    group = _registry.ENTRY_POINT_GROUP
    entry_points += [
        importlib.metadata.EntryPoint("tpe-copy", "mipro_core.samplers:TPESampler", group),
        importlib.metadata.EntryPoint("broken", "no_such_module_xyz:Sampler", group),
        importlib.metadata.EntryPoint("tpe", "mipro_core.samplers:RandomSampler", group),
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = available_samplers()
    assert sorted(names) == ["random", "tpe", "tpe-copy"]
    assert names["tpe"] is TPESampler  # a plugin cannot take a built-in's name
    messages = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    assert any("'broken'" in m and "ModuleNotFoundError" in m for m in messages)
    assert any("'tpe'" in m and "already taken" in m for m in messages)
    assert [name for name, _ in _registry.failed_samplers()] == ["broken", "tpe"]
    assert make_sampler("tpe-copy", n_startup_trials=2) == TPESampler(n_startup_trials=2)


def test_autoload_off_keeps_only_the_built_ins(
    entry_points: list[importlib.metadata.EntryPoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    entry_points.append(
        importlib.metadata.EntryPoint(
            "tpe-copy", "mipro_core.samplers:TPESampler", _registry.ENTRY_POINT_GROUP
        )
    )
    monkeypatch.setenv("MIPRO_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert sorted(available_samplers()) == ["random", "tpe"]


def test_unknown_names_and_bad_settings_are_named() -> None:
    with pytest.raises(InvalidInputError, match=r"unknown sampler 'nope'.*random, tpe"):
        make_sampler("nope")
    with pytest.raises(InvalidInputError, match="n_startup_trials"):
        make_sampler("tpe", n_startup_trials=-1)
    with pytest.raises(InvalidInputError, match="rejected settings"):
        make_sampler("random", width=3)


class TestOptunaTPE(SamplerConformanceTests):
    """Optuna's TPE behind our contract (``mipro-core[optuna]``); it rebuilds a study per ask,
    so a grown space is a new study."""

    registered = False  # the entry point is visible once mipro-core is (re)installed

    def make_sampler(self) -> Sampler:
        pytest.importorskip("optuna", reason="optuna is not installed (mipro-core[optuna])")
        from mipro_core.integrations.optuna import OptunaTPESampler

        return OptunaTPESampler(n_startup_trials=3, n_ei_candidates=8)


def test_the_optuna_sampler_is_declared_in_the_entry_point_group() -> None:
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml")

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    declared = project["entry-points"][_registry.ENTRY_POINT_GROUP]
    assert declared == {"optuna-tpe": "mipro_core.integrations.optuna:OptunaTPESampler"}
    assert "optuna" in project["optional-dependencies"]
    ep = importlib.metadata.EntryPoint("optuna-tpe", declared["optuna-tpe"], "x")
    pytest.importorskip("optuna", reason="optuna is not installed (mipro-core[optuna])")
    assert ep.load().__name__ == "OptunaTPESampler"
