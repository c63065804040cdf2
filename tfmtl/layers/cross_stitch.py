"""Cross-Stitch networks (Misra et al., CVPR'16): learnt α mixing of task columns between layers."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfmtl.layers.experts import ExpertBank
from tfmtl.layers.switcher import Switcher


def stitch_initializer(size: int, self_weight: float) -> keras.initializers.Initializer:
    """`self_weight` on the diagonal, the rest spread evenly so every row sums to 1."""
    off = (1.0 - self_weight) / (size - 1) if size > 1 else 0.0
    value = np.full((size, size), off, "float32")
    np.fill_diagonal(value, self_weight if size > 1 else 1.0)
    return keras.initializers.Constant(value)


@keras.saving.register_keras_serializable(package="tfmtl")
class CrossStitch(Switcher):
    """Cross-Stitch network: one column of layers per task, linearly mixed after every layer.

    Layer l computes each task's column `h^l_t = relu(W^l_t x̃^{l-1}_t + b^l_t)`, then the
    cross-stitch unit mixes the columns with a learnt matrix α^l (Misra et al., eq 1):
    `x̃^l_t = sum_s α^l_{ts} h^l_s`. α is the same for every sample (PLE Fig. 1f). The
    columns of a layer are one `ExpertBank` (one kernel).

    Args:
        num_outputs: int. Number of tasks (columns).
        units: list of int. Width of each layer of every column; one cross-stitch unit
            follows each layer.
        self_weight: float. Initial α_tt; the off-diagonal α start at
            `(1 - self_weight) / (T - 1)` (the paper's α_S = 0.9, α_D = 0.1 for two tasks).
            Defaults to 0.9.

    Call arguments:
        inputs: tensor `[B, D]` (every column reads it), or a list of `num_outputs` views
            `[B, D]` (column t reads view t).
        return_gates: bool. Also return the gates: there are none. Defaults to `False`.

    Returns:
        A list of `num_outputs` tensors `[B, units[-1]]`; with `return_gates=True`, the
        pair `(outputs, [])`.

    Example:

    >>> layer = tfmtl.layers.CrossStitch(num_outputs=2, units=[8, 4])
    >>> [tuple(o.shape) for o in layer(np.ones((3, 16), "float32"))]
    [(3, 4), (3, 4)]
    """

    def __init__(self, num_outputs: int, units: list[int], self_weight: float = 0.9, **kwargs):
        super().__init__(num_outputs, **kwargs)
        units = [int(u) for u in units]
        if not units or any(u < 1 for u in units):
            raise ValueError(
                "CrossStitch units must be a non-empty list of positive ints. Received: "
                f"units={units}"
            )
        if not 0.0 <= float(self_weight) <= 1.0:
            raise ValueError(
                f"CrossStitch self_weight must be in [0, 1]. Received: self_weight={self_weight}"
            )
        self.units, self.self_weight = units, float(self_weight)

    def build_switcher(self, input_shape):
        t, d = self.num_outputs, int(input_shape[-1])
        self.columns, self.alphas = [], []
        for j, u in enumerate(self.units):
            bank = ExpertBank(t, [u], name=f"columns_{j}")
            bank.build((None, t, d))
            self.columns.append(bank)
            self.alphas.append(
                self.add_weight(
                    name=f"alpha_{j}",
                    shape=(t, t),
                    initializer=stitch_initializer(t, self.self_weight),
                )
            )
            d = u

    def _run(self, h):
        for bank, alpha in zip(self.columns, self.alphas):
            h = ops.einsum("ts,bsu->btu", alpha, bank(h))  # Misra eq 1: x̃_t = sum_s α_ts h_s
        return [h[:, k] for k in range(self.num_outputs)], []

    def forward(self, x):
        return self._run(x)  # every column reads x: the bank's shared-input path

    def forward_views(self, views):
        return self._run(ops.stack(views, axis=1))

    def get_config(self):
        return {**super().get_config(), "units": self.units, "self_weight": self.self_weight}
