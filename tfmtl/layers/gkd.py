"""GKD: one task's Global Knowledge Distillation head (DML eq 7, §2.4)."""

from __future__ import annotations

import keras
from keras import ops

from tfmtl.layers.ctfm import _check_list
from tfmtl.layers.mlp import MLP
from tfmtl.layers.towers import KINDS

STOP_GRADIENT = ("all", "others")


@keras.saving.register_keras_serializable(package="tfmtl")
class GKD(keras.layers.Layer):
    """Global Knowledge Distillation for task k, with parameters dedicated to that task.

    DML eq 7: `o^k = GKD^k(h^k, {h^j}_{1≤j≤K}; θ^k_t1)`, computed as in §2.4 / Fig. 1(b):

    - `GK^k = MLP_g(sg(concat_j h^j))` `[B, d1]`: global knowledge from every task's hidden
      representation; `sg` = stop-gradient ("the gradient backpropagation from GK^k to the
      MLP's input is prohibited"), so task k's loss never moves another task's `h^j`;
    - `GW^k = MLP_w(concat(GK^k, h^k))` with a sigmoid last layer `[B, d1]`;
    - `WGK^k = GK^k ⊙ GW^k` (Hadamard product);
    - `o^k = head(concat(WGK^k, h^k))`: one unit, sigmoid for binary tasks.

    Args:
        task_index: int. k, the position of this task's `h^k` in the input list.
        kind: str. `"binary"` (probability) or `"regression"` (value). Defaults to `"binary"`.
        global_units: list of int. MLP_g's widths; the last is d1. Defaults to `[80]` (paper).
        gate_units: list of int. Hidden widths of MLP_w before its sigmoid layer of width d1.
            Defaults to `[]` (paper: one layer of 80).
        stop_gradient: str. `"all"` (paper and reference code: the whole concatenation,
            own `h^k` included) or `"others"` (own `h^k` enters MLP_g with its gradient).
            Defaults to `"all"`.
        dropout: float. Dropout after MLP_g's layers. Defaults to `0.0`.

    Call arguments:
        hidden: list of K tensors `[B, H]` (widths may differ), every task's `h^j`.
        training: bool. Dropout on or off.

    Returns:
        One tensor `[B]`: task k's probability (`"binary"`) or value (`"regression"`).

    Example:

    >>> hs = [np.random.rand(4, 8).astype("float32") for _ in range(2)]
    >>> tuple(tfmtl.layers.GKD(task_index=0, global_units=[6])(hs).shape)
    (4,)

    Reference: Ren et al., ORSUM@RecSys'23, eq 7 and §2.4.
    """

    def __init__(
        self,
        task_index: int,
        kind: str = "binary",
        global_units: list[int] = (80,),
        gate_units: list[int] = (),
        stop_gradient: str = "all",
        dropout: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if kind not in KINDS:
            raise ValueError(f"GKD kind must be one of {KINDS}. Received: kind={kind!r}")
        if stop_gradient not in STOP_GRADIENT:
            raise ValueError(
                f"GKD stop_gradient must be one of {STOP_GRADIENT}. Received: "
                f"stop_gradient={stop_gradient!r}"
            )
        if not global_units:
            raise ValueError(
                "GKD global_units must name at least one layer (its last width is d1). Received: []"
            )
        self.task_index, self.kind, self.stop_gradient = int(task_index), kind, stop_gradient
        self.global_units, self.gate_units = (
            [int(u) for u in global_units],
            [int(u) for u in gate_units],
        )
        self.dropout = float(dropout)
        self.global_mlp = MLP(self.global_units, dropout=self.dropout, name="global_mlp")
        self.gate_mlp = MLP(self.gate_units, name="gate_mlp")
        self.gate = keras.layers.Dense(self.global_units[-1], activation="sigmoid", name="gate")
        self.head = keras.layers.Dense(1, name="head")

    def build(self, input_shape):
        shapes = _check_list(input_shape, None, f"GKD '{self.name}'")
        if not 0 <= self.task_index < len(shapes):
            raise ValueError(
                f"GKD '{self.name}': task_index={self.task_index} is outside the {len(shapes)} "
                "hidden "
                "representations it received."
            )
        batch, d1, own = shapes[0][:-1], self.global_units[-1], shapes[self.task_index][-1]
        self.global_mlp.build(batch + (sum(int(s[-1]) for s in shapes),))
        self.gate_mlp.build(batch + (d1 + own,))
        self.gate.build(batch + ((self.gate_units[-1] if self.gate_units else d1 + own),))
        self.head.build(batch + (d1 + own,))
        self.built = True

    def call(self, hidden, training=None):
        own = hidden[self.task_index]
        parts = [
            h if (self.stop_gradient == "others" and j == self.task_index) else ops.stop_gradient(h)
            for j, h in enumerate(hidden)
        ]
        gk = self.global_mlp(
            ops.concatenate(parts, axis=-1), training=training
        )  # §2.4: GK^k from sg(concat h^j)
        gw = self.gate(self.gate_mlp(ops.concatenate([gk, own], axis=-1)))  # §2.4: GW^k, sigmoid
        z = self.head(
            ops.concatenate([gk * gw, own], axis=-1)
        )  # §2.4: WGK^k = GK^k ⊙ GW^k, concat h^k
        z = ops.squeeze(z, axis=-1)
        return ops.sigmoid(z) if self.kind == "binary" else z

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])[:-1]

    def get_config(self):
        return {
            **super().get_config(),
            "task_index": self.task_index,
            "kind": self.kind,
            "global_units": self.global_units,
            "gate_units": self.gate_units,
            "stop_gradient": self.stop_gradient,
            "dropout": self.dropout,
        }
