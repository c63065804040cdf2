"""Per-task losses over the task's sample space only (PLE eq 9).

A label outside the task's space is NaN (see `Task.labels`); it counts in neither the sum
nor the count: `L_k = sum_i δ_k^i loss_k(ŷ_k^i, y_k^i) / sum_i δ_k^i` — never a filled-in 0.

Example:

>>> loss = MaskedLoss("binary")
>>> float(loss(np.array([1.0, np.nan], "float32"), np.array([0.5, 0.9], "float32")))  # only row 0
0.6931...
"""

from __future__ import annotations

import keras
from keras import ops

_EPS = 1e-7


@keras.saving.register_keras_serializable(package="tfmtl")
class MaskedLoss(keras.losses.Loss):
    """Binary cross-entropy or squared error averaged over the samples in the task's space.

    Args:
        kind: str. `"binary"` (cross-entropy on probabilities) or `"regression"` (MSE).
        weight: float. The task's loss weight ω_k (PLE eq 8); the eq 10 schedule updates it.
    """

    def __init__(
        self, kind: str = "binary", weight: float = 1.0, name: str | None = None, **kwargs
    ):
        kwargs.pop("reduction", None)
        super().__init__(name=name or f"masked_{kind}", reduction="sum", **kwargs)
        if kind not in ("binary", "regression"):
            raise ValueError(
                f"MaskedLoss kind must be 'binary' or 'regression'. Received: kind={kind!r}"
            )
        self.kind, self.weight = kind, float(weight)

    def call(self, y_true, y_pred):
        y_true = ops.reshape(ops.cast(y_true, "float32"), (-1,))
        y_pred = ops.reshape(ops.cast(y_pred, "float32"), (-1,))
        delta = ops.isfinite(y_true)  # PLE eq 9: δ_k^i
        y = ops.where(delta, y_true, 0.0)
        if self.kind == "binary":
            p = ops.clip(y_pred, _EPS, 1.0 - _EPS)
            per_sample = -(y * ops.log(p) + (1.0 - y) * ops.log(1.0 - p))
        else:
            per_sample = ops.square(y_pred - y)
        delta = ops.cast(delta, "float32")
        count = ops.maximum(ops.sum(delta), 1.0)
        return _per_replica(self.weight * delta * per_sample / count)

    def get_config(self):
        return {"name": self.name, "kind": self.kind, "weight": self.weight}


def _per_replica(value):
    """`value` divided by the replicas of a `tf.distribute` strategy (unchanged without one).

    Each replica's loss is summed into the step's gradient. Keras divides by the replica count
    inside its own "mean" reductions only; a masked mean (reduction "sum") divides itself, so
    the gradient and the logged loss are those of one device at the same global batch.
    """
    if keras.backend.backend() != "tensorflow":
        return value
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return value / replicas if replicas > 1 else value
