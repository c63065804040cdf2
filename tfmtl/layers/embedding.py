"""FeatureEmbedding: raw feature values in, one dense representation `[B, D]` out."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfmtl.features import FeatureSpec


@keras.saving.register_keras_serializable(package="tfmtl")
class FeatureEmbedding(keras.layers.Layer):
    """The embedding block: normalised dense features and embedded categorical ones, concatenated.

    Dense features: `(transform(x) - mean) / std` with the spec's training statistics, plus,
    when the feature has `num_buckets`, an embedding of the value's quantile bucket or its
    piecewise-linear encoding times a learnt matrix (`DenseFeature.encoding`).
    Categorical features: vocabulary lookup (one OOV bucket) or hashing, then an embedding.
    Sequence features are not part of the vector; `embed_sequence` embeds them for the
    layers that read sequences (sharing the table of `share_with`).

    Args:
        features: `FeatureSpec` or its `to_config()` list.
        lookup: bool. `True`: inputs are raw strings/ints looked up inside the model (the
            TensorFlow backend; what is exported and served). `False`: inputs are ids from
            `FeatureSpec.encode` (every backend). Defaults to `True`.

    Returns:
        One tensor `[B, D]` from the dict of feature name -> values `[B]`: every dense and
        categorical feature's columns, in spec order.

    Example:

    >>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("age")])
    >>> spec = spec.adapt({"age": np.array([1.0, 3.0])})
    >>> x = tfmtl.layers.FeatureEmbedding(spec)({"age": np.array([1.0, 3.0], "float32")})
    >>> tuple(x.shape)
    (2, 1)
    """

    def __init__(self, features, lookup: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.spec = (
            features if isinstance(features, FeatureSpec) else FeatureSpec.from_config(features)
        )
        self.lookup = bool(lookup)
        self.lookups, self.tables, self.piecewise = {}, {}, {}
        for f in self.spec:
            if f.kind == "dense" and _piecewise(f):
                self.piecewise[f.name] = keras.layers.Dense(
                    f.embedding_dim, name=f"piecewise_{f.name}"
                )
            elif f.kind == "dense" and f.boundaries and f.encoding == "bucket":
                self.tables[f.name] = keras.layers.Embedding(
                    len(f.boundaries) + 1, f.embedding_dim, name=f"embedding_{f.name}"
                )
            if f.kind == "dense" or getattr(f, "share_with", None):
                continue
            if f.kind == "sequence" and f.vocabulary is None:
                raise ValueError(
                    f"Sequence feature '{f.name}' has no vocabulary: adapt the spec first."
                )
            size = f.num_ids if f.kind == "categorical" else len(f.vocabulary) + 1
            self.tables[f.name] = keras.layers.Embedding(
                size, f.embedding_dim, name=f"embedding_{f.name}"
            )
            if self.lookup:
                self.lookups[f.name] = _lookup_layer(f)

    @property
    def output_dim(self) -> int:
        return sum(feature_width(f) for f in self.spec)

    def build(self, input_shape=None):
        for table in self.tables.values():
            table.build((None,))
        for name, linear in self.piecewise.items():
            linear.build((None, len(self.spec[name].boundaries) - 1))
        self.built = True

    def ids(self, name: str, values):
        """Ids of raw `values` of feature `name` (or of the feature it shares a table with)."""
        owner = self.spec[name].share_with if getattr(self.spec[name], "share_with", None) else name
        if not self.lookup:
            return ops.cast(values, "int32")
        return self.lookups[owner](values)

    def embed_sequence(self, name: str, values):
        """`[B, L]` raw ids -> `([B, L, dim] embeddings, [B, L] mask)`; mask is 1 off padding."""
        f = self.spec[name]
        owner = f.share_with or name
        ids = self.ids(name, values)
        mask = ops.cast(ops.not_equal(ids, 0), "float32") if f.share_with is None else None
        if mask is None:  # shared table: padding is a raw value, not OOV id 0
            pad = ops.convert_to_tensor(f.padding, dtype=values.dtype) if self.lookup else 0
            mask = ops.cast(ops.not_equal(values, pad), "float32")
        return self.tables[owner](ids), mask

    def call(self, inputs):
        parts = []
        for f in self.spec:
            if f.kind == "dense":
                x = ops.cast(inputs[f.name], "float32")
                if f.transform == "log1p":
                    x = ops.log1p(ops.maximum(x, 0.0))
                if f.missing == "mean":
                    x = ops.where(ops.isfinite(x), x, f.mean)
                parts.append(ops.expand_dims((x - f.mean) / f.std, -1))
                if f.name in self.piecewise:
                    parts.append(self.piecewise[f.name](piecewise_linear(x, f.boundaries)))
                elif f.name in self.tables:
                    parts.append(self.tables[f.name](ops.digitize(x, list(f.boundaries))))
            elif f.kind == "categorical":
                parts.append(self.tables[f.name](self.ids(f.name, inputs[f.name])))
        return ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shape):
        return (None, self.output_dim)

    def get_config(self):
        return {**super().get_config(), "features": self.spec.to_config(), "lookup": self.lookup}


def feature_width(f) -> int:
    """Columns feature `f` takes in the block: a dense value (and its bucket or piecewise
    embedding), a categorical embedding, or none for a sequence (embedded by its readers).
    """
    if f.kind == "sequence":
        return 0
    if f.kind != "dense":
        return int(f.embedding_dim)
    embedded = _piecewise(f) or (bool(f.boundaries) and f.encoding == "bucket")
    return 1 + (int(f.embedding_dim) if embedded else 0)


def piecewise_linear(x, edges):
    """`[B]` values -> `[B, len(edges) - 1]` piecewise-linear encoding (Gorishniy et al., eq 1).

    Component t is the fraction of bin t = [edges[t], edges[t+1]) that x has passed: 0 left of
    it, 1 right of it; the first bin extends linearly below, the last above.

    >>> z = piecewise_linear(np.array([0.5, 2.0, 9.0], "float32"), edges=(0.0, 1.0, 4.0))
    >>> ops.convert_to_numpy(z).astype(float).round(3).tolist()
    [[0.5, 0.0], [1.0, 0.333], [1.0, 2.667]]
    """
    edges = np.asarray(edges, dtype=np.float64)
    left, width = edges[:-1], np.diff(edges)
    low = np.where(np.arange(len(width)) == 0, -np.inf, 0.0)
    high = np.where(np.arange(len(width)) == len(width) - 1, np.inf, 1.0)
    z = (ops.expand_dims(ops.cast(x, "float32"), -1) - left.astype("float32")) / width.astype(
        "float32"
    )
    return ops.minimum(ops.maximum(z, low.astype("float32")), high.astype("float32"))


def _piecewise(f) -> bool:
    """A dense feature with at least one piecewise-linear bin (two distinct edges)."""
    return f.encoding == "piecewise_linear" and f.boundaries is not None and len(f.boundaries) >= 2


def _lookup_layer(f):
    if getattr(f, "num_hash_bins", None):
        return keras.layers.Hashing(f.num_hash_bins, name=f"hash_{f.name}")
    layer = keras.layers.StringLookup if f.dtype == "string" else keras.layers.IntegerLookup
    return layer(vocabulary=list(f.vocabulary), num_oov_indices=1, name=f"lookup_{f.name}")
