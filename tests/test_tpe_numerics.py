"""The TPE numerics on arrays: Parzen mixtures, keys, and how TPE reads the history."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mipro_core._search import _parzen
from mipro_core._search._sampler import row_keys
from mipro_core._search._tpe import default_gamma, split_good_bad, surrogate_points


@st.composite
def mixtures(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, float, np.ndarray | None]:
    """Small spaces (so the full grid can be enumerated) with centers, prior weight, weights."""
    counts = np.array(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)), dtype=np.int64)
    k = draw(st.integers(0, 6))
    centers = np.array(
        [[draw(st.integers(0, int(c) - 1)) for c in counts] for _ in range(k)], dtype=np.int64
    ).reshape(k, len(counts))
    prior_weight = draw(st.floats(0.01, 10.0))
    weights = None
    if k and draw(st.booleans()):
        weights = np.array(draw(st.lists(st.floats(0.0, 5.0), min_size=k, max_size=k)))
    return counts, centers, prior_weight, weights


def grid(counts: np.ndarray) -> np.ndarray:
    return np.array(list(itertools.product(*(range(int(c)) for c in counts))), dtype=np.int64)


def naive_log_pdf(
    counts: np.ndarray,
    centers: np.ndarray,
    prior_weight: float,
    weights: np.ndarray | None,
    x: np.ndarray,
) -> float:
    """The mixture written out term by term, straight from its definition."""
    k = len(centers)
    w = [*(np.ones(k) if weights is None else weights), prior_weight]
    total = sum(w)
    flat = prior_weight / (k + 1)
    density = 0.0
    for i in range(k):
        kernel = 1.0
        for j, c in enumerate(counts):
            bump = 1.0 if x[j] == centers[i, j] else 0.0
            kernel *= (flat + bump) / (1.0 + c * flat)
        density += w[i] / total * kernel
    density += prior_weight / total / math.prod(int(c) for c in counts)
    return math.log(density)


@given(mixtures())
@settings(max_examples=80, deadline=None)
def test_mixture_is_normalised_over_the_full_grid(
    case: tuple[np.ndarray, np.ndarray, float, np.ndarray | None],
) -> None:
    counts, centers, prior_weight, weights = case
    parzen = _parzen.fit_parzen(centers, counts, prior_weight, weights)
    total = np.exp(_parzen.log_pdf(parzen, grid(counts))).sum()
    assert total == pytest.approx(1.0, abs=1e-9)


@given(mixtures())
@settings(max_examples=80, deadline=None)
def test_log_pdf_matches_the_definition(
    case: tuple[np.ndarray, np.ndarray, float, np.ndarray | None],
) -> None:
    counts, centers, prior_weight, weights = case
    parzen = _parzen.fit_parzen(centers, counts, prior_weight, weights)
    points = grid(counts)
    expected = [naive_log_pdf(counts, centers, prior_weight, weights, x) for x in points]
    np.testing.assert_allclose(_parzen.log_pdf(parzen, points), expected, rtol=1e-9, atol=1e-12)


def test_kernels_favour_their_center_and_sharpen_with_more_observations() -> None:
    counts = np.array([5, 3])
    one = _parzen.fit_parzen(np.array([[2, 1]]), counts, prior_weight=1.0)
    many = _parzen.fit_parzen(np.tile([[2, 1]], (20, 1)), counts, prior_weight=1.0)
    for parzen in (one, many):
        hit, miss = np.exp(parzen.log_hit), np.exp(parzen.log_miss)
        assert np.all(hit > miss)
        np.testing.assert_allclose(hit + (counts - 1) * miss, 1.0)
    assert np.all(many.log_hit > one.log_hit)
    # One center, prior weight 1: the center's category gets (1 + 1/2) / (1 + C/2).
    assert math.exp(one.log_hit[0]) == pytest.approx(1.5 / 3.5)


def test_no_centers_is_the_uniform_distribution() -> None:
    counts = np.array([3, 4])
    parzen = _parzen.fit_parzen(np.zeros((0, 2), dtype=np.int64), counts, prior_weight=1.0)
    np.testing.assert_allclose(np.exp(_parzen.log_pdf(parzen, grid(counts))), 1 / 12)
    draws = _parzen.sample_parzen(parzen, np.random.default_rng(0), 6000)
    assert draws.shape == (6000, 2)
    assert set(map(tuple, draws)) == set(map(tuple, grid(counts)))


def test_samples_follow_the_density() -> None:
    counts = np.array([3, 2, 4])
    centers = np.array([[0, 1, 3], [0, 1, 3], [2, 0, 1]])
    parzen = _parzen.fit_parzen(centers, counts, prior_weight=0.5, weights=np.array([1, 2, 1.0]))
    points = grid(counts)
    n = 60_000
    draws = _parzen.sample_parzen(parzen, np.random.default_rng(7), n)
    keys = row_keys(draws, counts)
    frequency = np.bincount(keys, minlength=len(points)) / n
    expected = np.exp(_parzen.log_pdf(parzen, points))
    # A binomial standard error is at most 0.002 here; allow 4 of them.
    np.testing.assert_allclose(frequency, expected, atol=0.008)


def test_zero_weight_kernels_are_never_drawn() -> None:
    counts = np.array([10, 10])
    centers = np.array([[9, 9], [0, 0]])
    parzen = _parzen.fit_parzen(centers, counts, prior_weight=1e-6, weights=np.array([0.0, 1.0]))
    draws = _parzen.sample_parzen(parzen, np.random.default_rng(3), 500)
    assert not np.any((draws == [9, 9]).all(axis=1))


def test_fit_rejects_bad_arguments() -> None:
    counts = np.array([2])
    with pytest.raises(ValueError, match="prior_weight"):
        _parzen.fit_parzen(np.array([[0]]), counts, prior_weight=0.0)
    with pytest.raises(ValueError, match="weights"):
        _parzen.fit_parzen(np.array([[0]]), counts, prior_weight=1.0, weights=np.array([-1.0]))
    with pytest.raises(ValueError, match="weights"):
        _parzen.fit_parzen(np.array([[0]]), counts, 1.0, weights=np.array([1.0, 1.0]))


@given(st.lists(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=5), min_size=1, max_size=5))
@settings(deadline=None)
def test_logsumexp_rows_matches_scipy(rows: list[list[float]]) -> None:
    from scipy.special import logsumexp

    width = max(len(r) for r in rows)
    values = np.array([r + [-np.inf] * (width - len(r)) for r in rows])
    expected = logsumexp(values, axis=1)
    np.testing.assert_allclose(_parzen.logsumexp_rows(values), expected, rtol=1e-9, atol=1e-12)


def test_logsumexp_rows_of_all_minus_infinity_is_minus_infinity() -> None:
    assert _parzen.logsumexp_rows(np.full((1, 3), -np.inf))[0] == -np.inf


@given(
    st.lists(st.integers(1, 5), min_size=0, max_size=4).flatmap(
        lambda counts: st.tuples(
            st.just(counts),
            st.lists(st.tuples(*(st.integers(0, c - 1) for c in counts)), max_size=12),
        )
    ),
    st.booleans(),
)
def test_row_keys_identify_and_order_rows(
    case: tuple[list[int], list[tuple[int, ...]]], huge: bool
) -> None:
    counts, rows = case
    configs = np.array(rows, dtype=np.int64).reshape(len(rows), len(counts))
    # ``huge`` pretends the space is too big for mixed-radix keys (exercises the fallback).
    sizes = np.array(counts, dtype=np.int64) * (2**40 if huge else 1)
    keys = row_keys(configs, sizes)
    for a, b in itertools.combinations(range(len(rows)), 2):
        assert (keys[a] == keys[b]) == (rows[a] == rows[b])
        assert (keys[a] < keys[b]) == (rows[a] < rows[b])


def test_default_gamma_is_optunas_rule() -> None:
    assert [default_gamma(n) for n in (1, 10, 11, 20, 21, 250, 251, 10_000)] == [
        1,
        1,
        2,
        2,
        3,
        25,
        25,
        25,
    ]


def test_split_takes_the_highest_values_and_keeps_order_on_ties() -> None:
    points = np.arange(6).reshape(6, 1)
    values = np.array([0.1, 0.9, 0.5, 0.9, 0.2, 0.5])
    good, bad = split_good_bad(points, values, 3)
    assert good[:, 0].tolist() == [1, 3, 2]
    assert bad[:, 0].tolist() == [5, 4, 0]


# --- How TPE reads the history: minibatch and full-evaluation scores kept apart -------------

COUNTS = np.array([3, 3])


def history(*rows: tuple[int, int, float, bool]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    configs = np.array([[a, b] for a, b, _, _ in rows], dtype=np.int64).reshape(-1, 2)
    values = np.array([v for _, _, v, _ in rows], dtype=np.float64)
    is_full = np.array([f for _, _, _, f in rows], dtype=np.bool_)
    return configs, values, is_full


def as_set(points: np.ndarray, values: np.ndarray) -> list[tuple[int, int, float]]:
    return sorted((int(a), int(b), float(v)) for (a, b), v in zip(points, values, strict=True))


def test_without_full_evaluations_every_minibatch_trial_is_a_point() -> None:
    configs, values, is_full = history((0, 0, 0.3, False), (0, 0, 0.5, False), (2, 1, 0.9, False))
    points, point_values = surrogate_points(configs, COUNTS, values, is_full)
    assert as_set(points, point_values) == [(0, 0, 0.3), (0, 0, 0.5), (2, 1, 0.9)]


def test_a_full_score_replaces_the_minibatch_values_of_its_configuration() -> None:
    # (2, 1) had two lucky minibatches; its exact score is poor. It is not a third sample.
    configs, values, is_full = history(
        (2, 1, 0.95, False),
        (0, 0, 0.40, False),
        (2, 1, 0.90, False),
        (2, 1, 0.20, True),
    )
    points, point_values = surrogate_points(configs, COUNTS, values, is_full)
    assert as_set(points, point_values) == [(0, 0, 0.4), (2, 1, 0.2), (2, 1, 0.2)]
    good, _ = split_good_bad(points, point_values, 1)
    assert good.tolist() == [[0, 0]]


def test_a_configuration_with_only_a_full_score_gets_one_point() -> None:
    configs, values, is_full = history((0, 0, 0.6, True), (1, 2, 0.3, False))
    points, point_values = surrogate_points(configs, COUNTS, values, is_full)
    assert as_set(points, point_values) == [(0, 0, 0.6), (1, 2, 0.3)]


def test_several_full_scores_of_one_configuration_are_averaged() -> None:
    configs, values, is_full = history((1, 1, 0.9, False), (1, 1, 0.4, True), (1, 1, 0.6, True))
    points, point_values = surrogate_points(configs, COUNTS, values, is_full)
    assert as_set(points, point_values) == [(1, 1, pytest.approx(0.5))]  # type: ignore[list-item]


def test_full_scores_can_be_ignored() -> None:
    configs, values, is_full = history((2, 1, 0.95, False), (2, 1, 0.2, True), (0, 0, 0.6, True))
    points, point_values = surrogate_points(
        configs, COUNTS, values, is_full, consider_full_evals=False
    )
    assert as_set(points, point_values) == [(2, 1, 0.95)]


@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 2), st.floats(0, 1), st.booleans()),
        max_size=15,
    ),
    st.randoms(use_true_random=False),
)
def test_points_do_not_depend_on_the_order_of_the_history(
    rows: list[tuple[int, int, float, bool]], shuffler: object
) -> None:
    shuffled = list(rows)
    shuffler.shuffle(shuffled)  # type: ignore[attr-defined]
    a = surrogate_points(*_with_counts(history(*rows)))
    b = surrogate_points(*_with_counts(history(*shuffled)))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def _with_counts(
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    configs, values, is_full = arrays
    return configs, COUNTS, values, is_full
