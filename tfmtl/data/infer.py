"""Features inferred from training columns, each with the reason it was chosen.

- A numeric column becomes a `DenseFeature`: normalised, `log1p` first when it is a
  non-negative heavy-tailed amount (maximum >= 100 x (median + 1)), and cut at up to 255
  spike-aware training quantiles (fewer on small data: about 100 rows a bucket), so a
  network can split it as trees do; missing cells take the mean.
- An integer column named like an id (`user_id`, `itemId`) and every text column become a
  `CategoricalFeature`: a vocabulary with an out-of-vocabulary bucket, or hashing past
  `MAX_VOCABULARY` distinct values.
- A column with one value, or (past 100 rows) a different value in every row (a row id), is
  no input.

Example:

>>> rows = 200
>>> columns = {"price": np.arange(rows) % 7 * 1.5,
...            "city": np.array(["a", "b"] * (rows // 2), dtype=object),
...            "order_id": np.array([f"o{i}" for i in range(rows)], dtype=object)}
>>> features, notes = infer_features(columns)
>>> [(f.name, f.kind) for f in features]
[('price', 'dense'), ('city', 'categorical')]
>>> notes["order_id"]
'skipped: a different value in every row (an id of the row)'
"""

from __future__ import annotations

import re

import numpy as np

from tfmtl.features import CategoricalFeature, DenseFeature

MAX_BUCKETS = 255
ROWS_PER_BUCKET = 100
MAX_VOCABULARY = 100_000
EMBEDDING_DIM = 8
_ID_NAME = re.compile(r"(^|_)ids?$|[a-z]Ids?$|ID$")


def infer_features(columns: dict, names=None) -> tuple[list, dict]:
    """Features for `names` (default: every column) of training `columns`, and a note per column."""
    features, notes = [], {}
    for name in names if names is not None else columns:
        feature, note = infer_feature(name, np.asarray(columns[name]))
        notes[name] = note
        if feature is not None:
            features.append(feature)
    return features, notes


def infer_feature(name: str, values: np.ndarray):
    """`(feature or None, note)` for one training column (see the module docstring)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(values)
    numeric = values.dtype.kind == "f"
    present = values[np.isfinite(values)] if numeric else values
    distinct = len(np.unique(present)) if numeric else pc.count_distinct(pa.array(values)).as_py()
    if distinct <= 1:
        return None, "skipped: a single value"
    if distinct == n and n > 100 and (not numeric or _ID_NAME.search(name)):
        return None, "skipped: a different value in every row (an id of the row)"
    integral = numeric and present.size == n and np.all(present == np.round(present))
    if integral and _ID_NAME.search(name):
        return _categorical(name, distinct, "int64")
    if not numeric:
        return _categorical(name, distinct, "string")
    buckets = int(min(MAX_BUCKETS, max(4, n // ROWS_PER_BUCKET)))
    low, median, high = (float(v) for v in np.quantile(present, [0.0, 0.5, 1.0]))
    transform = "log1p" if low >= 0 and high >= 100 * (median + 1) else "none"
    missing = "mean" if present.size < n else "error"
    feature = DenseFeature(
        name, transform=transform, missing=missing, num_buckets=buckets, embedding_dim=EMBEDDING_DIM
    )
    note = f"dense: {distinct:,} values, up to {buckets} quantile buckets"
    note += ", log1p (heavy-tailed)" if transform == "log1p" else ""
    note += f", {n - present.size:,} missing -> mean" if missing == "mean" else ""
    return feature, note


def _categorical(name: str, distinct: int, dtype: str):
    if distinct > MAX_VOCABULARY:
        bins = 1 << int(np.ceil(np.log2(distinct)))
        feature = CategoricalFeature(
            name, embedding_dim=16, dtype=dtype, num_hash_bins=min(bins, 1 << 22)
        )
        return (
            feature,
            f"categorical: {distinct:,} values, hashed into {feature.num_hash_bins:,} bins",
        )
    dim = EMBEDDING_DIM if distinct <= 1000 else 16
    return CategoricalFeature(
        name, embedding_dim=dim, dtype=dtype
    ), f"categorical: vocabulary of {distinct:,} + OOV"
