"""FeatureSelect: some features' columns of the embedding block (per-task feature subsets)."""

from __future__ import annotations

import keras
from keras import ops

from tfmtl.features import FeatureSpec
from tfmtl.layers.embedding import feature_width


def feature_columns(spec: FeatureSpec) -> dict:
    """Feature name -> `(start, stop)` of its columns in `FeatureEmbedding`'s output.

    In spec order, each feature's `feature_width` (a dense value, with its bucket or piecewise
    embedding when it has one; a categorical embedding); sequence features are not part of it.
    """
    columns, start = {}, 0
    for f in spec:
        if f.kind == "sequence":
            continue
        width = feature_width(f)
        columns[f.name] = (start, start + width)
        start += width
    return columns


@keras.saving.register_keras_serializable(package="tfmtl")
class FeatureSelect(keras.layers.Layer):
    """Keep the embedding-block columns of the named features: `x[:, cols(features)]`.

    MFH §4.3: "different tasks can also have customized input features only available for
    themselves", and MFH §5.1.2 removes the user-id feature for new users. One
    `FeatureEmbedding` embeds every feature once; `FeatureSelect` cuts the shared input and
    each task's own features out of it.

    Args:
        features: `FeatureSpec` or its `to_config()` list (the embedding block's spec).
        names: list of str. Features to keep, in spec order.

    Returns:
        One tensor `[B, F]` of the kept features' columns of the input `[B, D]`.

    Example:

    >>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("a"), tfmtl.DenseFeature("b")])
    >>> kept = tfmtl.layers.FeatureSelect(spec, ["b"])(np.array([[1.0, 2.0]], "float32"))
    >>> np.asarray(kept).tolist()
    [[2.0]]
    """

    def __init__(self, features, names: list[str], **kwargs):
        super().__init__(**kwargs)
        self.spec = (
            features if isinstance(features, FeatureSpec) else FeatureSpec.from_config(features)
        )
        spans = feature_columns(self.spec)
        unknown = [n for n in names if n not in spans]
        if unknown:
            raise ValueError(
                f"FeatureSelect: feature(s) {unknown} are not in the embedding block. Known: "
                f"{sorted(spans)}"
            )
        if not names:
            raise ValueError("FeatureSelect needs at least one feature name. Received: names=[]")
        self.names = [n for n in self.spec.names if n in set(names)]
        self.indices = [i for n in self.names for i in range(*spans[n])]

    def call(self, x):
        return ops.take(x, ops.convert_to_tensor(self.indices, dtype="int32"), axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (len(self.indices),)

    def get_config(self):
        return {**super().get_config(), "features": self.spec.to_config(), "names": self.names}
