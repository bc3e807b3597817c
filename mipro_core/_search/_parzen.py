"""Parzen estimators over categorical spaces: the numerics of TPE, on arrays only.

A :class:`CategoricalParzen` is a mixture with one *kernel* per observed configuration (a
*center*) plus one uniform *prior* component. A kernel is a product over variables of
categorical distributions that put probability ``hit[j]`` on the center's category of variable
``j`` and ``miss[j]`` on each other category. As in Optuna, a kernel is built by adding 1 to
the center's category on top of a flat ``f = prior_weight / (k + 1)`` for ``k`` centers, then
normalising, so kernels sharpen as observations accumulate. Mixture weights are the given
per-center weights and ``prior_weight`` for the prior, normalised.

Because each kernel spans all variables jointly, the mixture models interactions between
variables (the "multivariate" TPE). Nothing here knows what an observation means.
"""

from __future__ import annotations

import attrs
import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@attrs.frozen(eq=False)
class CategoricalParzen:
    """A fitted mixture; build it with :func:`fit_parzen`.

    ``centers`` is ``(k, d)``; ``log_mix`` is ``(k + 1,)`` with the prior last; ``log_hit`` and
    ``log_miss`` are ``(d,)``; ``counts`` is ``(d,)``.
    """

    centers: IntArray
    counts: IntArray
    log_mix: FloatArray
    log_hit: FloatArray
    log_miss: FloatArray
    offsets: IntArray = attrs.field(init=False)
    match_gain: FloatArray = attrs.field(init=False)

    @offsets.default
    def _offsets(self) -> IntArray:
        # Column of (variable j, category c) in a one-hot encoding is offsets[j] + c.
        offsets: IntArray = np.cumsum(self.counts) - self.counts
        return offsets

    @match_gain.default
    def _match_gain(self) -> FloatArray:
        # (one-hot columns, k): the log-probability kernel i gains when variable j of x takes
        # category c, at row offsets[j] + c (non-zero only where c is the kernel's center).
        k = len(self.centers)
        gain = np.zeros((int(self.counts.sum()), k))
        gain[self.centers + self.offsets, np.arange(k)[:, None]] = self.log_hit - self.log_miss
        return gain

    @property
    def resample_probability(self) -> FloatArray:
        """Per variable, the chance that a kernel draws uniformly instead of keeping its center.

        A kernel is equivalently "keep the center's category with probability ``1 - r``, else
        draw uniformly over all categories", with ``r = counts * miss``.
        """
        result: FloatArray = np.minimum(1.0, self.counts * np.exp(self.log_miss))
        return result


def fit_parzen(
    centers: IntArray,
    counts: IntArray,
    prior_weight: float,
    weights: FloatArray | None = None,
) -> CategoricalParzen:
    """Fit the mixture to ``centers`` (``(k, d)`` category indices, ``k`` may be 0).

    ``weights`` (``(k,)``, non-negative, default all 1) weight the kernels; ``prior_weight``
    (> 0) weights the uniform prior and sets the kernels' flatness.
    """
    centers = np.asarray(centers, dtype=np.int64).reshape(-1, len(counts))
    counts = np.asarray(counts, dtype=np.int64)
    k = len(centers)
    if prior_weight <= 0:
        raise ValueError(f"prior_weight must be > 0, got {prior_weight}")
    kernel_weights = np.ones(k) if weights is None else np.asarray(weights, dtype=np.float64)
    if kernel_weights.shape != (k,) or np.any(kernel_weights < 0):
        raise ValueError("weights must be a non-negative array with one entry per center")
    mix = np.append(kernel_weights, prior_weight)
    flat = prior_weight / (k + 1)
    denominator = 1.0 + counts * flat
    with np.errstate(divide="ignore"):  # a zero-weight kernel has log-weight -inf: never drawn
        log_mix = np.log(mix / mix.sum())
    return CategoricalParzen(
        centers=centers,
        counts=counts,
        log_mix=log_mix,
        log_hit=np.log((1.0 + flat) / denominator),
        log_miss=np.log(flat / denominator),
    )


def log_pdf(parzen: CategoricalParzen, configs: IntArray) -> FloatArray:
    """Log-density of each row of ``configs`` (``(m, d)``) under the mixture; returns ``(m,)``."""
    configs = np.asarray(configs, dtype=np.int64).reshape(-1, len(parzen.counts))
    # Kernel i at x: sum_j log_miss[j] + sum_j [x_j == c_ij] * (log_hit[j] - log_miss[j]):
    # one row gather of the gains per variable (cheaper and steadier than a BLAS product of
    # x's one-hot encoding, which contends for cores with the engine's evaluation threads).
    columns = configs + parzen.offsets
    kernel = np.full((len(configs), len(parzen.centers)), parzen.log_miss.sum())  # (m, k)
    for j in range(columns.shape[1]):
        kernel += parzen.match_gain[columns[:, j]]
    prior = np.full((len(configs), 1), -np.log(parzen.counts.astype(np.float64)).sum())
    return logsumexp_rows(np.concatenate([kernel, prior], axis=1) + parzen.log_mix)


def sample_parzen(parzen: CategoricalParzen, rng: np.random.Generator, size: int) -> IntArray:
    """Draw ``size`` configurations from the mixture; returns ``(size, d)``.

    Consumes the RNG in a fixed pattern (component choice, then coins, then uniform draws), so
    the result depends only on the mixture and the RNG state.
    """
    k, d = parzen.centers.shape
    component = rng.choice(k + 1, size=size, p=np.exp(parzen.log_mix))
    coins = rng.random((size, d))
    uniform = rng.integers(0, parzen.counts, size=(size, d), dtype=np.int64)
    from_prior = component == k
    redraw = from_prior[:, None] | (coins < parzen.resample_probability)
    kept = parzen.centers[np.minimum(component, max(k - 1, 0))] if k else uniform
    result: IntArray = np.where(redraw, uniform, kept)
    return result


def logsumexp_rows(values: FloatArray) -> FloatArray:
    """``log(sum(exp(values), axis=1))`` computed stably; rows may contain ``-inf``."""
    top = values.max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        result: FloatArray = np.log(np.exp(values - top).sum(axis=1)) + top[:, 0]
    return result
