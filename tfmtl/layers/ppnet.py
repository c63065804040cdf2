"""PPNetTower: a task tower whose every hidden layer is scaled by its own gate (PEPNet §3.5)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from tfmtl.layers.pepnet import GateNU, _check_gate
from tfmtl.layers.towers import KINDS


@keras.saving.register_keras_serializable(package="tfmtl")
class PPNetTower(keras.layers.Layer):
    """Parameter Personalized Network tower: `Tower` with a `GateNU` on every hidden layer.

    PEPNet eq 5: `O_prior = E(F_u) ⊕ E(F_i) ⊕ E(F_a)`, the prior features' embeddings;
    eq 6: `delta_task = U_pp(O_prior ⊕ ∅(O_ep))`, a gate on the prior and the tower's input
    under stop-gradient `∅`; eq 7-8: the hidden layers `h_{l+1} = f(h_l W_l + b_l)`, each
    scaled `h_l <- delta^l_task ⊗ h_l` by its own gate. The stop-gradient keeps the gates
    from training what feeds the tower (EPNet, the embeddings); the prior features'
    embeddings learn through the gates. Then the head, as in `Tower`: one float32 unit,
    a sigmoid for binary tasks.

    Differs from the paper: eq 7 scales a layer's input; here (as the brief asks) each
    gate scales the output of its hidden layer, so the first layer reads `O_ep` unscaled
    and the last hidden layer's output is gated before the head. Dropout comes after the
    gate.

    Args:
        units: list of int. Hidden sizes; one gate per hidden layer.
        kind: str. `"binary"` (outputs a probability) or `"regression"` (a value).
            Defaults to `"binary"`.
        gate_units: int. Width of every gate's hidden layer. Defaults to `64`.
        dropout: float. Dropout after each gated hidden layer. Defaults to `0.0`.
        gamma: float. Upper bound of every gate (`GateNU`). Defaults to `2.0`.

    Call arguments:
        inputs: list `[x, prior]`: the tower's input `O_ep` `[B, D]` and the prior
            features' embeddings `O_prior` `[B, D_p]`.
        training: bool. Dropout on or off.
        return_gates: bool. Also return the gates, one `[B, units[l]]` per hidden layer.
            Defaults to `False`.

    Returns:
        One tensor `[B]`, one float32 score per row; with `return_gates=True`, the pair
        `(score, gates)`.

    Example:

    >>> from tfmtl.layers.ppnet import PPNetTower
    >>> tower = PPNetTower([8, 4], kind="binary", gate_units=4)
    >>> p, gates = tower([np.ones((3, 6), "float32"), np.ones((3, 2))], return_gates=True)
    >>> tuple(p.shape), [tuple(g.shape) for g in gates]
    ((3,), [(3, 8), (3, 4)])
    """

    def __init__(
        self,
        units: list[int],
        kind: str = "binary",
        gate_units: int = 64,
        dropout: float = 0.0,
        gamma: float = 2.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if kind not in KINDS:
            raise ValueError(f"PPNetTower kind must be one of {KINDS}. Received: kind={kind!r}")
        units = [int(u) for u in units]
        if any(u < 1 for u in units):
            raise ValueError(f"PPNetTower units must be positive. Received: units={units}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"PPNetTower dropout must be in [0, 1). Received: dropout={dropout}")
        self.gate_units, self.gamma = _check_gate("PPNetTower", gate_units, gamma)
        self.units, self.kind, self.dropout = units, kind, float(dropout)
        self.dense_layers = [
            keras.layers.Dense(u, activation="relu", name=f"dense_{i}") for i, u in enumerate(units)
        ]
        self.gates = [
            GateNU(self.gate_units, u, self.gamma, name=f"gate_{i}") for i, u in enumerate(units)
        ]
        self.dropout_layers = [keras.layers.Dropout(self.dropout) for _ in units]
        # As in `Tower`: the head computes in float32 under any dtype policy.
        self.head = keras.layers.Dense(1, dtype="float32", name="head")

    def build(self, input_shape) -> None:
        if len(input_shape) != 2 or not all(isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(
                "PPNetTower takes a list [x, prior] of two tensors. Received input shape: "
                f"{input_shape}"
            )
        x, prior = (tuple(s) for s in input_shape)
        condition = x[:-1] + (prior[-1] + x[-1],)
        shape = x
        for dense, gate in zip(self.dense_layers, self.gates):
            dense.build(shape)
            gate.build(condition)
            shape = shape[:-1] + (dense.units,)
        self.head.build(shape)
        self.built = True

    def call(self, inputs, training=None, return_gates: bool = False):
        x, prior = inputs
        prior = ops.cast(prior, x.dtype)
        # PEPNet eq 6: the gates read the prior and the tower input under stop-gradient.
        condition = ops.concatenate([prior, ops.stop_gradient(x)], axis=-1)
        h, gates = x, []
        for dense, gate, drop in zip(self.dense_layers, self.gates, self.dropout_layers):
            delta = gate(condition)
            h = drop(delta * dense(h), training=training)  # PEPNet eq 7-8
            gates.append(delta)
        z = ops.squeeze(self.head(h), axis=-1)
        score = ops.sigmoid(z) if self.kind == "binary" else z
        return (score, gates) if return_gates else score

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "kind": self.kind,
            "gate_units": self.gate_units,
            "dropout": self.dropout,
            "gamma": self.gamma,
        }
