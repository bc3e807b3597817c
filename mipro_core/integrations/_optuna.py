"""A sampler backed by Optuna's TPE (``pip install 'mipro-core[optuna]'``)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from .._errors import InvalidInputError
from .._search._sampler import Observation, complete_params, validate_space


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise InvalidInputError(
            "OptunaTPESampler needs Optuna: pip install 'mipro-core[optuna]'"
        ) from exc
    return optuna


def _at_least(minimum: int) -> Any:
    def check(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise InvalidInputError(
                f"OptunaTPESampler.{attribute.name} must be an int >= {minimum}, got {value!r}"
            )

    return check


@attrs.frozen(kw_only=True)
class OptunaTPESampler:
    """Optuna's ``TPESampler`` behind mipro's :class:`~mipro_core.samplers.Sampler` contract.

    Each call builds a fresh in-memory study from the whole history and asks it once, seeded
    from the engine's RNG, so the sampler is stateless and a resumed run replays it. Optuna
    fixes a categorical distribution's choices for the life of a study and cannot grow them;
    building the study per call sidesteps that: every observation is re-encoded in the current
    space (a variable it predates counts as index 0, variables no longer searched are dropped),
    so a grown space is just a new study. Minibatch and full-evaluation scores are given to
    Optuna as interchangeable trials (as DSPy does); the value is maximised.

    Args:
        n_startup_trials: random trials before TPE starts (Optuna's setting).
        n_ei_candidates: candidates drawn per ask (Optuna's setting).
        multivariate: Optuna's multivariate TPE (joint kernels), as DSPy's MIPROv2 uses.
    """

    n_startup_trials: int = attrs.field(default=10, validator=_at_least(0))
    n_ei_candidates: int = attrs.field(default=24, validator=_at_least(1))
    multivariate: bool = True

    def __attrs_post_init__(self) -> None:
        _optuna()  # fail when built, not in the middle of a run

    def sample(
        self,
        space: Mapping[str, int],
        history: Sequence[Observation],
        rng: np.random.Generator,
    ) -> dict[str, int]:
        optuna = _optuna()
        names, counts = validate_space(space)
        seed = int(rng.integers(2**31))
        distributions = {
            name: optuna.distributions.CategoricalDistribution(tuple(range(int(count))))
            for name, count in zip(names, counts, strict=True)
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(
                n_startup_trials=self.n_startup_trials,
                n_ei_candidates=self.n_ei_candidates,
                multivariate=self.multivariate,
                seed=seed,
            )
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # one "study created" line per ask
        try:
            study = optuna.create_study(direction="maximize", sampler=sampler)
        finally:
            optuna.logging.set_verbosity(verbosity)
        # a canonical order, so the proposal does not depend on the history's order
        rows = sorted(
            (tuple(complete_params(space, o.params)[n] for n in names), o.value, o.kind)
            for o in history
        )
        for row in rows:
            bad = [n for n, i, c in zip(names, row[0], counts, strict=True) if i >= c]
            if bad:
                raise InvalidInputError(f"an observation's index for {bad[0]!r} is out of range")
        study.add_trials(
            [
                optuna.trial.create_trial(
                    params=dict(zip(names, row, strict=True)),
                    distributions=distributions,
                    value=value,
                )
                for row, value, _ in rows
            ]
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            trial = study.ask(distributions)
        return {name: int(trial.params[name]) for name in names}
