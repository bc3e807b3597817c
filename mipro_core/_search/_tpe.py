"""TPE orchestration (draft)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import attrs
import numpy as np

from . import _parzen
from ._random import uniform_configs
from ._sampler import (
    BoolArray,
    FloatArray,
    IntArray,
    Observation,
    encode_history,
    to_dict,
    validate_space,
)

POLICY = "obs"
EXCL = False


def default_gamma(n: int) -> int:
    return min(math.ceil(0.1 * n), 25)


def surrogate_points(
    configs: IntArray, values: FloatArray, is_full: BoolArray, consider_full_evals: bool
) -> tuple[IntArray, FloatArray]:
    if not consider_full_evals:
        configs, values, is_full = configs[~is_full], values[~is_full], is_full[~is_full]
    if POLICY == "dspy":
        order = np.lexsort((values, *configs.T[::-1]))
        return configs[order], values[order]
    unique, inverse = np.unique(configs, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    k = len(unique)
    full_sum = np.bincount(inverse, weights=np.where(is_full, values, 0.0), minlength=k)
    full_n = np.bincount(inverse, weights=is_full.astype(float), minlength=k)
    mb_sum = np.bincount(inverse, weights=np.where(is_full, 0.0, values), minlength=k)
    mb_n = np.bincount(inverse, weights=(~is_full).astype(float), minlength=k)
    has_full = full_n > 0
    if POLICY in ("obsfull", "obsmean", "obsmean+"):
        fullv = full_sum / np.maximum(full_n, 1)
        mbmean = mb_sum / np.maximum(mb_n, 1)
        mbm = ~is_full
        pc = configs[mbm]
        inv = inverse[mbm]
        own = values[mbm] if POLICY == "obsfull" else mbmean[inv]
        pv = np.where(has_full[inv], fullv[inv], own)
        extra = has_full & ((mb_n == 0) | (POLICY == "obsmean+"))
        pc = np.concatenate([pc, unique[extra]])
        pv = np.concatenate([pv, fullv[extra]])
        order = np.lexsort((pv, *pc.T[::-1]))
        return pc[order], pv[order]
    if POLICY == "obs":
        keep = ~has_full[inverse]
        pc, pv = configs[keep], values[keep]
        pc = np.concatenate([pc, unique[has_full]])
        pv = np.concatenate([pv, full_sum[has_full] / full_n[has_full]])
        order = np.lexsort((pv, *pc.T[::-1]))
        return pc[order], pv[order]
    mean = np.where(has_full, full_sum / np.maximum(full_n, 1), mb_sum / np.maximum(mb_n, 1))
    if POLICY == "shrink":
        mb = ~is_full
        if mb.sum() >= 2:
            grand = values[mb].mean()
            # within-config noise from repeats
            resid = values[mb] - (mb_sum / np.maximum(mb_n, 1))[inverse[mb]]
            dof = mb.sum() - (mb_n > 0).sum()
            # also from full vs minibatch of same config
            fr = values[mb] - np.where(has_full, full_sum / np.maximum(full_n, 1), np.nan)[inverse[mb]]
            fr = fr[np.isfinite(fr)]
            ss = (resid**2).sum() + (fr**2).sum()
            dd = dof + len(fr)
            sigma2 = ss / dd if dd > 0 else values[mb].var()
            cm = (mb_sum / np.maximum(mb_n, 1))[mb_n > 0]
            tau2 = max(cm.var() - sigma2 * np.mean(1 / mb_n[mb_n > 0]), 1e-12)
            factor = tau2 / (tau2 + sigma2 / np.maximum(mb_n, 1))
            shrunk = grand + factor * (mb_sum / np.maximum(mb_n, 1) - grand)
            mean = np.where(has_full, mean, shrunk)
    return unique, mean


@attrs.frozen(kw_only=True)
class TPESampler:
    n_startup_trials: int = 10
    n_ei_candidates: int = 24
    gamma: Callable[[int], int] = default_gamma
    prior_weight: float = 1.0
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
        if len(history) < self.n_startup_trials or not names:
            return to_dict(names, uniform_configs(counts, rng, 1)[0])
        centers, scores = surrogate_points(configs, values, is_full, self.consider_full_evals)
        if len(centers) == 0:
            return to_dict(names, uniform_configs(counts, rng, 1)[0])
        n_good = min(max(self.gamma(len(centers)), 1), len(centers))
        ranked = np.argsort(-scores, kind="stable")
        good, bad = centers[ranked[:n_good]], centers[ranked[n_good:]]
        done = np.unique(configs[is_full], axis=0) if EXCL else configs[:0]
        if self.multivariate:
            best = self._propose(good, bad, counts, rng, done)
        else:
            best = np.concatenate(
                [self._propose(good[:, [j]], bad[:, [j]], counts[[j]], rng) for j in range(len(names))]
            )
        return to_dict(names, best)

    def _propose(self, good: IntArray, bad: IntArray, counts: IntArray, rng: np.random.Generator, done=None) -> IntArray:
        below = _parzen.fit_parzen(good, counts, self.prior_weight)
        above = _parzen.fit_parzen(bad, counts, self.prior_weight)
        cands = _parzen.sample_parzen(below, rng, self.n_ei_candidates)
        score = _parzen.log_pdf(below, cands) - _parzen.log_pdf(above, cands)
        if done is not None and len(done):
            hit = (cands[:, None, :] == done[None, :, :]).all(axis=2).any(axis=1)
            if not hit.all():
                score = np.where(hit, -np.inf, score)
        return cands[int(np.argmax(score))]
