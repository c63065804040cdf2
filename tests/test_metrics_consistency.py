"""Consistency ratio (DML §3.2) against a brute-force loop over pairs."""

import itertools

import numpy as np
import pytest

from tfmtl.metrics_consistency import consistency_ratio


def _brute(r, a, b):
    consistent = reverse = pairs = 0
    for i, j in itertools.combinations(range(len(r)), 2):
        if r[i] == r[j]:
            continue
        s = 1 if r[j] > r[i] else -1
        da, db = s * (a[j] - a[i]), s * (b[j] - b[i])
        pairs += 1
        consistent += da > 0 and db > 0
        reverse += da < 0 and db < 0
    return consistent, reverse, pairs


def test_exact_matches_brute_force_with_ties():
    rng = np.random.default_rng(0)
    r = rng.integers(1, 6, 150).astype(float)
    a = np.round(r + rng.normal(size=150), 1)  # rounding makes ties in predictions
    b = np.round(rng.random(150), 1)
    got = consistency_ratio(r, a, b, chunk=32)
    consistent, reverse, pairs = _brute(r, a, b)
    assert (got["consistent"], got["reverse"], got["pairs"], got["exact"]) == (
        consistent,
        reverse,
        pairs,
        True,
    )
    assert got["ratio"] == pytest.approx(consistent / pairs) and got["stderr"] == 0.0


def test_perfect_and_reversed_orders():
    r = np.array([1, 2, 2, 3, 5.0])
    assert consistency_ratio(r, r * 2, r + 1)["ratio"] == 1.0
    rev = consistency_ratio(r, -r, -r)
    assert rev["ratio"] == 0.0 and rev["reverse_ratio"] == 1.0 and rev["pairs"] == 9


def test_sampled_estimate_is_seeded_and_within_its_error():
    rng = np.random.default_rng(1)
    r = rng.integers(1, 6, 1200).astype(float)
    a, b = r + rng.normal(size=1200), r + rng.normal(size=1200)
    exact = consistency_ratio(r, a, b)
    est = consistency_ratio(r, a, b, max_rows=100, sample_pairs=200_000, seed=3)
    assert not est["exact"] and est == consistency_ratio(
        r, a, b, max_rows=100, sample_pairs=200_000, seed=3
    )
    assert abs(est["ratio"] - exact["ratio"]) < 4 * est["stderr"]


def test_non_finite_rows_dropped_and_lengths_checked():
    r, a = np.array([1.0, 2.0, np.nan, 3.0]), np.array([0.1, 0.2, 0.3, np.nan])
    assert consistency_ratio(r, a, a)["pairs"] == 1
    with pytest.raises(ValueError, match="'score_b': 3"):
        consistency_ratio(r, a, a[:3])
