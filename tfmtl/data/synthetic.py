"""The MMoE synthetic generator: two regression tasks whose correlation you set.

Ma et al. (KDD'18) §3.2: unit vectors u1 ⊥ u2, `w1 = c·u1`, `w2 = c·(ρ·u1 + sqrt(1-ρ²)·u2)`;
`y_k = w_k·x + Σ_i sin(α_i w_k·x + β_i) + ε`, with x ~ N(0, I) and ε ~ N(0, 0.01).
The label correlation grows with ρ. A categorical `segment` (a coarse bucket of x_0) and a
positive `video_len` are added so the embedded demo exercises every feature kind.

Example:

>>> data = load_synthetic(rows=2000, correlation=0.9)
>>> sorted(t.name for t in data.tasks)
['task_a', 'task_b']
"""

from __future__ import annotations

import numpy as np

from tfmtl.data.dataset import MultiTaskData, build_splits, split_indices
from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec
from tfmtl.tasks import Task


def mmoe_synthetic(
    rows: int, correlation: float, dim: int = 16, scale: float = 1.0, sines: int = 10, seed: int = 0
):
    """Raw arrays `(x [rows, dim], y_a [rows], y_b [rows])` of the MMoE generator."""
    if not -1.0 <= correlation <= 1.0:
        raise ValueError(f"correlation must be in [-1, 1]. Received: correlation={correlation}")
    rng = np.random.default_rng(seed)
    u1, u2 = np.linalg.qr(rng.normal(size=(dim, 2)))[0].T
    w1 = scale * u1
    w2 = scale * (correlation * u1 + np.sqrt(1.0 - correlation**2) * u2)
    alpha, beta = rng.normal(size=sines), rng.normal(size=sines)
    x = rng.normal(size=(rows, dim))

    def target(w):
        z = x @ w
        return z + np.sin(np.outer(z, alpha) + beta).sum(axis=1) + rng.normal(scale=0.1, size=rows)

    return x.astype(np.float32), target(w1).astype(np.float32), target(w2).astype(np.float32)


def load_synthetic(
    rows: int = 20_000, correlation: float = 0.5, dim: int = 16, seed: int = 0
) -> MultiTaskData:
    """The generator as `MultiTaskData` (60/20/20 split), tasks `task_a`, `task_b` (regression)."""
    x, y_a, y_b = mmoe_synthetic(rows, correlation, dim=dim, seed=seed)
    columns = {f"x{i}": x[:, i] for i in range(dim)}
    columns["segment"] = np.asarray(["s%d" % b for b in np.digitize(x[:, 0], [-1.0, 0.0, 1.0])])
    columns["video_len"] = np.round(np.exp(1.0 + 0.5 * x[:, 1]) * 60.0).astype(np.float32)
    columns["y_a"], columns["y_b"] = y_a, y_b
    spec = FeatureSpec(
        [DenseFeature(f"x{i}") for i in range(dim)]
        + [
            CategoricalFeature("segment", embedding_dim=4),
            DenseFeature("video_len", transform="log1p"),
        ]
    )
    tasks = [
        Task("task_a", kind="regression", label="y_a"),
        Task("task_b", kind="regression", label="y_b"),
    ]
    data = build_splits(columns, spec, tasks, split_indices(rows, seed), "synthetic")
    data.description = (
        f"MMoE synthetic: {rows:,} rows, correlation {correlation}, dim {dim}, seed {seed}"
    )
    return data
