"""Multivariate Tree-structured Parzen Estimator (TPE) for categorical search spaces.

The orchestration around the numerics of :mod:`._parzen`: turn the history into scored points,
split them into a *good* and a *bad* group, fit a density to each (``l`` and ``g``), draw
candidates from ``l`` and return the one that maximises ``log l(x) - log g(x)``. This follows
Optuna's ``TPESampler(multivariate=True)``, which DSPy's MIPROv2 uses, with two deliberate
differences.

**Minibatch and full-evaluation scores are kept apart.** A minibatch score is a noisy estimate
of a configuration's score; a full-evaluation score *is* that score (the number the search
maximises and the engine selects on; this assumes minibatches are drawn from the set the full
evaluation uses, so that a minibatch mean estimates the full score without bias). DSPy feeds both to Optuna as interchangeable trials, so a
full evaluation is just one more sample that the lucky minibatch scores of the same
configuration still outvote. Here:

* every **minibatch trial** is one point (one kernel of ``l`` or ``g``), as in TPE: the density
  reflects where the search spent its trials, so a configuration that keeps scoring well keeps
  gaining weight;
* a point's **value** is its own minibatch score, *unless its configuration has a
  full-evaluation score, which then replaces the value of every trial of that configuration*
  (several full scores of one configuration are averaged). The exact score thus corrects
  a lucky or unlucky minibatch draw instead of being averaged with it;
* a full evaluation adds **no point** of its own (it is a measurement, not a place the search
  chose to visit), except for a configuration that has no minibatch trial at all (e.g. the
  baseline the engine evaluates first), which gets one point with its full score;
* a configuration that already has a full score is **never proposed again** while any other
  candidate remains: another minibatch of it would tell nothing new.

This design proposes the optimum sooner than DSPy's pooling, than ignoring full scores, and
than one point per configuration, which throws away the weight that repeated visits give a
good region (measurements: docs/benchmarks.md, "TPE design choices").

**History order is irrelevant.** Optuna down-weights old trials once there are 25 or more; the
objective here does not drift (every minibatch is an independent draw), so every point weighs
the same, and points are put in a canonical order before any random draw. The sampler is thus
a function of the *multiset* of observations and the RNG state.

``gamma(n)`` is the number of good points among ``n``; the default is Optuna's
``min(ceil(0.1 n), 25)``, clamped to ``[1, n]`` (with 10 start-up trials that is 1 good point,
2 from 11 points on). Other rules measured no better (docs/benchmarks.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import attrs
import numpy as np

from .._errors import InvalidInputError
from . import _parzen
from ._batch import constant_liar_batch
from ._random import uniform_configs
from ._sampler import (
    BoolArray,
    FloatArray,
    IntArray,
    Observation,
    encode_history,
    row_keys,
    to_dict,
    validate_space,
)


def default_gamma(n: int) -> int:
    """Optuna's rule for the number of good points among ``n``: ``min(ceil(0.1 n), 25)``."""
    return min(math.ceil(0.1 * n), 25)


def surrogate_points(
    configs: IntArray,
    counts: IntArray,
    values: FloatArray,
    is_full: BoolArray,
    *,
    consider_full_evals: bool = True,
) -> tuple[IntArray, FloatArray]:
    """The points TPE fits and their values, in canonical order (see the module docstring).

    ``configs`` ``(n, d)``, ``values`` ``(n,)`` and ``is_full`` ``(n,)`` describe the history;
    ``counts`` ``(d,)`` is the number of categories per variable. With
    ``consider_full_evals=False`` full evaluations are ignored entirely.
    """
    keys = row_keys(configs, counts)
    canonical = np.lexsort((values, is_full, keys))  # so float sums do not depend on order
    configs, keys = configs[canonical], keys[canonical]
    values, is_full = values[canonical], is_full[canonical]
    minibatch = ~is_full
    if not consider_full_evals or not is_full.any():
        points, point_keys, point_values = configs[minibatch], keys[minibatch], values[minibatch]
    else:
        unique_keys, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        k = len(unique_keys)
        full_sum = np.bincount(inverse[is_full], weights=values[is_full], minlength=k)
        full_count = np.bincount(inverse[is_full], minlength=k)
        trial_count = np.bincount(inverse[minibatch], minlength=k)
        has_full = full_count > 0
        full_value = full_sum / np.maximum(full_count, 1)
        owner = inverse[minibatch]
        alone = has_full & (trial_count == 0)
        points = np.concatenate([configs[minibatch], configs[first[alone]]])
        point_keys = np.concatenate([keys[minibatch], unique_keys[alone]])
        point_values = np.concatenate(
            [np.where(has_full[owner], full_value[owner], values[minibatch]), full_value[alone]]
        )
    order = np.lexsort((point_values, point_keys))
    return points[order], point_values[order]


def split_good_bad(points: IntArray, values: FloatArray, n_good: int) -> tuple[IntArray, IntArray]:
    """The ``n_good`` highest-valued points and the rest (ties keep the points' order)."""
    ranked = np.argsort(-values, kind="stable")
    return points[ranked[:n_good]], points[ranked[n_good:]]


def _check_positive_int(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    minimum = 0 if attribute.name == "n_startup_trials" else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(
            f"TPESampler.{attribute.name} must be an int >= {minimum}, got {value!r}"
        )


def _check_prior_weight(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise InvalidInputError(f"TPESampler.prior_weight must be > 0 and finite, got {value!r}")


@attrs.frozen(kw_only=True)
class TPESampler:
    """Multivariate TPE over a categorical space (the default search strategy).

    Stateless: each call rebuilds the estimators from ``history``. Minibatch and full scores
    are kept apart: every minibatch trial is one point of the estimators, valued at its own
    score unless its configuration has a full-evaluation score, which then replaces it; a
    fully evaluated configuration is not proposed again. The order of ``history`` is irrelevant.

    Args:
        n_startup_trials: below this many observations (all of them, full evaluations
            included; minibatch ones only if ``consider_full_evals=False``), sample uniformly
            at random, with exactly the draws :class:`RandomSampler` would make.
        n_ei_candidates: how many candidates to draw from ``l`` before picking the best ratio.
        gamma: number of good points given the number of points.
        prior_weight: weight of the uniform prior component; also flattens the kernels.
        multivariate: joint kernels over all variables (models interactions); ``False`` fits
            one independent TPE per variable, like Optuna's default univariate TPE.
        consider_full_evals: use full-evaluation scores as described in the module docstring
            (their values, and never re-proposing a fully evaluated configuration while the
            candidates offer another); ``False`` ignores them (pure minibatch TPE).
    """

    n_startup_trials: int = attrs.field(default=10, validator=_check_positive_int)
    n_ei_candidates: int = attrs.field(default=24, validator=_check_positive_int)
    gamma: Callable[[int], int] = default_gamma
    prior_weight: float = attrs.field(default=1.0, converter=float, validator=_check_prior_weight)
    multivariate: bool = True
    consider_full_evals: bool = True

    def sample(
        self,
        space: Mapping[str, int],
        history: Sequence[Observation],
        rng: np.random.Generator,
    ) -> dict[str, int]:
        names, counts = validate_space(space)
        configs, values, is_full = encode_history(names, counts, history)
        points, point_values = surrogate_points(
            configs, counts, values, is_full, consider_full_evals=self.consider_full_evals
        )
        n_used = len(history) if self.consider_full_evals else int((~is_full).sum())
        if n_used < self.n_startup_trials or len(points) == 0 or not names:
            return to_dict(names, uniform_configs(counts, rng, 1)[0])
        n_good = min(max(int(self.gamma(len(points))), 1), len(points))
        good, bad = split_good_bad(points, point_values, n_good)
        if self.multivariate:
            done = configs[is_full] if self.consider_full_evals else None
            best = self._propose(good, bad, counts, rng, exclude=done)
        else:
            best = np.concatenate(
                [
                    self._propose(good[:, [j]], bad[:, [j]], counts[[j]], rng)
                    for j in range(len(names))
                ]
            )
        return to_dict(names, best)

    def sample_batch(
        self,
        space: Mapping[str, int],
        history: Sequence[Observation],
        pending: Sequence[Mapping[str, int]],
        k: int,
        rng: np.random.Generator,
    ) -> list[dict[str, int]]:
        """``k`` configurations by the constant liar rule: each pending configuration and each
        one already chosen counts as a minibatch trial scored at the worst minibatch score seen,
        so it joins the *bad* group and the next proposal moves away from it."""
        return constant_liar_batch(self, space, history, pending, k, rng)

    def _propose(
        self,
        good: IntArray,
        bad: IntArray,
        counts: IntArray,
        rng: np.random.Generator,
        exclude: IntArray | None = None,
    ) -> IntArray:
        """The candidate drawn from ``l`` with the best ``log l - log g``, avoiding ``exclude``."""
        below = _parzen.fit_parzen(good, counts, self.prior_weight)
        above = _parzen.fit_parzen(bad, counts, self.prior_weight)
        candidates = _parzen.sample_parzen(below, rng, self.n_ei_candidates)
        score = _parzen.log_pdf(below, candidates) - _parzen.log_pdf(above, candidates)
        if exclude is not None and len(exclude):
            known = (candidates[:, None, :] == exclude[None, :, :]).all(axis=2).any(axis=1)
            if not known.all():
                score = np.where(known, -np.inf, score)
        best: IntArray = candidates[int(np.argmax(score))]
        return best
