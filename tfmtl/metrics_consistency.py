"""Consistency ratio (DML §3.2): do two tasks' predictions order sample pairs as the rating does?

Over pairs of samples with different rating scores, the consistency ratio is the share of
pairs for which BOTH tasks' predictions are in the same order as the ratings (ties in a
prediction count as not consistent); the reverse ratio is the share for which both are in the
opposite order (the paper's note on Shared-Bottom).

Exact over all pairs when the split has at most `max_rows` rows (chunked O(n²) in numpy:
10,000 rows, ~5·10⁷ pairs, take about a second); otherwise estimated on `sample_pairs`
uniformly drawn pairs by `numpy.random.default_rng(seed)`, with its binomial standard error.

Example:

>>> rating = np.array([1, 2, 3, 4])
>>> ctr, watch = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.4, 0.5, 0.6, 0.1])
>>> r = consistency_ratio(rating, ctr, watch)
>>> r["ratio"], r["reverse_ratio"], r["pairs"], r["exact"]
(0.5, 0.0, 6, True)
"""

from __future__ import annotations

import numpy as np


def consistency_ratio(
    rating,
    score_a,
    score_b,
    max_rows: int = 20_000,
    sample_pairs: int = 2_000_000,
    seed: int = 0,
    chunk: int = 1024,
) -> dict:
    """Consistency and reverse ratios of `score_a`, `score_b` against `rating` (all `[N]`).

    Rows with a non-finite value in any of the three are dropped.
    Returns a dict: `ratio`, `reverse_ratio`, `pairs` (pairs with different ratings counted
    or sampled), `consistent`, `reverse`, `exact` (bool), `stderr` (0 when exact).
    """
    arrays = [np.asarray(v, np.float64).reshape(-1) for v in (rating, score_a, score_b)]
    sizes = {name: len(a) for name, a in zip(("rating", "score_a", "score_b"), arrays)}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"consistency_ratio needs arrays of one length. Received lengths {sizes}.")
    keep = np.isfinite(arrays[0]) & np.isfinite(arrays[1]) & np.isfinite(arrays[2])
    r, a, b = (x[keep] for x in arrays)
    if len(r) <= max_rows:
        consistent, reverse, pairs = _exact(r, a, b, chunk)
        exact = True
    else:
        consistent, reverse, pairs = _sampled(r, a, b, int(sample_pairs), seed)
        exact = False
    ratio = consistent / pairs if pairs else float("nan")
    return {
        "ratio": ratio,
        "reverse_ratio": reverse / pairs if pairs else float("nan"),
        "pairs": int(pairs),
        "consistent": int(consistent),
        "reverse": int(reverse),
        "exact": exact,
        "stderr": 0.0 if exact or not pairs else float(np.sqrt(ratio * (1.0 - ratio) / pairs)),
    }


def _exact(r, a, b, chunk: int):
    consistent = reverse = pairs = 0
    for start in range(0, len(r), chunk):
        sl = slice(start, start + chunk)
        lower = r[sl, None] < r[None, :]  # ordered pairs (i, j) with r_i < r_j: each pair once
        up_a, up_b = a[sl, None] < a[None, :], b[sl, None] < b[None, :]
        down_a, down_b = a[sl, None] > a[None, :], b[sl, None] > b[None, :]
        pairs += int(lower.sum())
        consistent += int((lower & up_a & up_b).sum())
        reverse += int((lower & down_a & down_b).sum())
    return consistent, reverse, pairs


def _sampled(r, a, b, n_pairs: int, seed: int):
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, len(r), n_pairs), rng.integers(0, len(r), n_pairs)
    differ = r[i] != r[j]
    i, j = i[differ], j[differ]
    sign = np.sign(r[j] - r[i])  # orient every pair so that its rating rises
    da, db = sign * (a[j] - a[i]), sign * (b[j] - b[i])
    return int(((da > 0) & (db > 0)).sum()), int(((da < 0) & (db < 0)).sum()), len(i)
