"""Tower: a task's MLP and its head (probability for binary tasks, value for regression)."""

from __future__ import annotations

import keras
from keras import ops

from tfmtl.layers.mlp import MLP

KINDS = ("binary", "regression")


@keras.saving.register_keras_serializable(package="tfmtl")
class Tower(keras.layers.Layer):
    """Task tower `t^k` (PLE eq 5): MLP, then one unit; sigmoid for binary tasks.

    Args:
        units: list of int. Hidden sizes; towers may differ per task.
        kind: str. `"binary"` (outputs a probability) or `"regression"` (a value).
        dropout: float. Dropout after each hidden layer. Defaults to `0.0`.

    Call arguments:
        x: tensor `[B, D]`.
        training: bool. Dropout on or off.

    Returns:
        One tensor `[B]`: one float32 score per row, whatever the dtype policy.

    Example:

    >>> p = tfmtl.layers.Tower([8], kind="binary")(np.ones((4, 16), "float32"))
    >>> tuple(p.shape)
    (4,)
    """

    def __init__(self, units: list[int], kind: str = "binary", dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if kind not in KINDS:
            raise ValueError(f"Tower kind must be one of {KINDS}. Received: kind={kind!r}")
        self.units, self.kind, self.dropout = [int(u) for u in units], kind, float(dropout)
        self.mlp = MLP(self.units, dropout=self.dropout, name="mlp")
        # The head computes in float32 under any dtype policy (e.g. "mixed_bfloat16"): scores,
        # losses and exported signatures stay float32 while the MLPs below run in bfloat16.
        self.head = keras.layers.Dense(1, dtype="float32", name="head")

    def build(self, input_shape):
        self.mlp.build(input_shape)
        self.head.build(
            tuple(input_shape)[:-1] + ((self.units[-1],) if self.units else (input_shape[-1],))
        )
        self.built = True

    def call(self, x, training=None):
        z = ops.squeeze(self.head(self.mlp(x, training=training)), axis=-1)
        return ops.sigmoid(z) if self.kind == "binary" else z

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1]

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "kind": self.kind,
            "dropout": self.dropout,
        }
