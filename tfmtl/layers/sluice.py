"""Sluice networks (Ruder et al., AAAI'19): subspaces, α mixing across tasks, β layer mixing."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfmtl.layers.cross_stitch import stitch_initializer
from tfmtl.layers.experts import ExpertBank
from tfmtl.layers.switcher import Switcher

COMBINES = ("sum", "concat")


@keras.saving.register_keras_serializable(package="tfmtl")
class Sluice(Switcher):
    """Sluice network: task columns split into subspaces, mixed by α, read out through β.

    Layer l computes each task's column `h^l_t` (one `ExpertBank` for all columns) and splits
    it into G subspaces `h^l_{t,g}`. The α unit mixes every subspace of every task
    (Ruder et al. eq 1): `h̃^l_{t,g} = sum_{s,h} α^l_{(t,g),(s,h)} h^l_{s,h}`, α of size
    `[T·G, T·G]`. The β unit gives each task a learnt mix of all its layers (skip
    connections, eq 2): `y_t = sum_l β_{t,l} h̃^l_t` (`combine="sum"`, equal widths), or
    `[β_{t,1} h̃^1_t, ..., β_{t,L} h̃^L_t]` (`combine="concat"`).

    With `orthogonality_weight > 0` the layer adds the subspace orthogonality penalty
    `λ sum_{l,t,g<h} ||H^l_{t,g}^T H^l_{t,h}||_F^2 / B` (eq 3) through `add_loss`.

    Args:
        num_outputs: int. Number of tasks.
        units: list of int. Width of each layer of every column; each divisible by
            `num_subspaces`.
        num_subspaces: int. Subspaces G per layer and task. Defaults to 2.
        self_weight: float. Initial α of a subspace onto itself; the rest of the row is
            spread evenly. Defaults to 0.9.
        combine: str. `"sum"` or `"concat"` for the β layer mix. Defaults to `"sum"`.
        orthogonality_weight: float. λ of the orthogonality penalty. Defaults to 0.

    β starts at the top layer (β_{t,L} = 1, the others 0), α near the identity.

    Call arguments:
        inputs: tensor `[B, D]`, or a list of `num_outputs` views `[B, D]`.
        return_gates: bool. Also return the gate weights, named by `gate_names`.
            Defaults to `False`.

    Returns:
        A list of `num_outputs` tensors `[B, units[-1]]` (`[B, sum(units)]` with
        `"concat"`); with `return_gates=True`, the pair `(outputs, [])`.

    Example:

    >>> layer = tfmtl.layers.Sluice(num_outputs=2, units=[8, 8], num_subspaces=2)
    >>> [tuple(o.shape) for o in layer(np.ones((3, 16), "float32"))]
    [(3, 8), (3, 8)]
    """

    def __init__(
        self,
        num_outputs: int,
        units: list[int],
        num_subspaces: int = 2,
        self_weight: float = 0.9,
        combine: str = "sum",
        orthogonality_weight: float = 0.0,
        **kwargs,
    ):
        super().__init__(num_outputs, **kwargs)
        units = [int(u) for u in units]
        g = int(num_subspaces)
        if not units or any(u < 1 for u in units):
            raise ValueError(
                f"Sluice units must be a non-empty list of positive ints. Received: units={units}"
            )
        if g < 1 or any(u % g for u in units):
            raise ValueError(
                "Sluice needs every layer width divisible by num_subspaces. Received: "
                f"units={units}, "
                f"num_subspaces={num_subspaces}"
            )
        if combine not in COMBINES:
            raise ValueError(
                f"Sluice combine must be one of {COMBINES}. Received: combine={combine!r}"
            )
        if combine == "sum" and len(set(units)) > 1:
            raise ValueError(
                "Sluice combine='sum' adds the layers, so they need one width. Received: "
                f"units={units}; "
                "use equal widths or combine='concat'."
            )
        if not 0.0 <= float(self_weight) <= 1.0:
            raise ValueError(
                f"Sluice self_weight must be in [0, 1]. Received: self_weight={self_weight}"
            )
        self.units, self.num_subspaces, self.self_weight = units, g, float(self_weight)
        self.combine, self.orthogonality_weight = combine, float(orthogonality_weight)

    def build_switcher(self, input_shape):
        t, d, g = self.num_outputs, int(input_shape[-1]), self.num_subspaces
        self.columns, self.alphas = [], []
        for j, u in enumerate(self.units):
            bank = ExpertBank(t, [u], name=f"columns_{j}")
            bank.build((None, t, d))
            self.columns.append(bank)
            self.alphas.append(
                self.add_weight(
                    name=f"alpha_{j}",
                    shape=(t * g, t * g),
                    initializer=stitch_initializer(t * g, self.self_weight),
                )
            )
            d = u
        beta = np.zeros((t, len(self.units)), "float32")
        beta[:, -1] = 1.0
        self.beta = self.add_weight(
            name="beta", shape=beta.shape, initializer=keras.initializers.Constant(beta)
        )

    def _run(self, h):
        t, g = self.num_outputs, self.num_subspaces
        layers, penalty = [], 0.0
        for bank, alpha, u in zip(self.columns, self.alphas, self.units):
            sub = ops.reshape(bank(h), (-1, t * g, u // g))  # [B, (task, subspace), u/G]
            if self.orthogonality_weight:
                penalty = penalty + self._orthogonality(ops.reshape(sub, (-1, t, g, u // g)))
            h = ops.reshape(ops.einsum("ij,bjv->biv", alpha, sub), (-1, t, u))  # eq 1: α mixing
            layers.append(h)
        if self.orthogonality_weight:
            self.add_loss(self.orthogonality_weight * penalty)
        if self.combine == "sum":  # eq 2: β mixes each task's layers
            out = ops.einsum("tl,bltu->btu", self.beta, ops.stack(layers, axis=1))
        else:
            out = ops.concatenate(
                [self.beta[:, j][None, :, None] * h_j for j, h_j in enumerate(layers)], axis=-1
            )
        return [out[:, k] for k in range(t)], []

    def _orthogonality(self, sub):
        # eq 3: ||H_g^T H_h||_F^2 for every pair of subspaces g < h of every task.
        gram = ops.einsum("btgv,bthw->tghvw", sub, sub) / ops.cast(ops.shape(sub)[0], sub.dtype)
        pairs = np.triu(np.ones((self.num_subspaces, self.num_subspaces), "float32"), k=1)
        return ops.sum(ops.sum(ops.square(gram), axis=(-1, -2)) * pairs[None])

    def forward(self, x):
        return self._run(x)  # every column reads x: the bank's shared-input path

    def forward_views(self, views):
        return self._run(ops.stack(views, axis=1))

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "num_subspaces": self.num_subspaces,
            "self_weight": self.self_weight,
            "combine": self.combine,
            "orthogonality_weight": self.orthogonality_weight,
        }
