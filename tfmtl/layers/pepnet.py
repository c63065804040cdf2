"""PEPNet's gates: the Gate Neural Unit and EPNet, the embedding personalisation (KDD'23 §3)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


def _check_gate(owner: str, gate_units: int, gamma: float) -> tuple[int, float]:
    """`(gate_units, gamma)` as int and float, once both are positive (else the error)."""
    if int(gate_units) < 1 or float(gamma) <= 0.0:
        raise ValueError(
            f"{owner} needs gate_units >= 1 and gamma > 0. Received: gate_units={gate_units}, "
            f"gamma={gamma}"
        )
    return int(gate_units), float(gamma)


@keras.saving.register_keras_serializable(package="tfmtl")
class GateNU(keras.layers.Layer):
    """Gate Neural Unit: a two-layer MLP squashed into `(0, gamma)` (PEPNet eq 1-2).

    PEPNet eq 1: `x' = ReLU(x W + b)`; eq 2: `delta = gamma * Sigmoid(x' W' + b')`. With
    `gamma = 2` the gate is centred on 1: it can both damp and amplify what it scales.

    Args:
        units: int. Width of the hidden ReLU layer (eq 1).
        output_dim: int. Width of the gate (eq 2): that of the tensor it scales.
        gamma: float. Scale of the sigmoid, the gate's upper bound. Defaults to `2.0`.

    Call arguments:
        x: tensor `[B, D]`, the gate's condition.

    Returns:
        One tensor `[B, output_dim]` with values in `(0, gamma)`.

    Example:

    >>> from tfmtl.layers.pepnet import GateNU
    >>> gate = GateNU(units=8, output_dim=3)
    >>> delta = np.asarray(gate(np.ones((4, 5), "float32")))
    >>> delta.shape, bool(((delta > 0) & (delta < 2)).all())
    ((4, 3), True)
    """

    def __init__(self, units: int, output_dim: int, gamma: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units, self.gamma = _check_gate("GateNU", units, gamma)
        if int(output_dim) < 1:
            raise ValueError(f"GateNU needs output_dim >= 1. Received: output_dim={output_dim}")
        self.output_dim = int(output_dim)
        self.hidden = keras.layers.Dense(self.units, activation="relu", name="hidden")
        self.out = keras.layers.Dense(self.output_dim, name="out")

    def build(self, input_shape) -> None:
        self.hidden.build(input_shape)
        self.out.build(tuple(input_shape)[:-1] + (self.units,))
        self.built = True

    def call(self, x):
        # PEPNet eq 1-2: delta = gamma * sigmoid(W' relu(W x + b) + b').
        return self.gamma * ops.sigmoid(self.out(self.hidden(x)))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.output_dim,)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "output_dim": self.output_dim,
            "gamma": self.gamma,
        }


@keras.saving.register_keras_serializable(package="tfmtl")
class EPNet(keras.layers.Layer):
    """Embedding Personalized Network: the embedding rescaled by a domain gate (PEPNet eq 3-4).

    PEPNet eq 3: `delta_domain = U_ep(E(F_d) ⊕ ∅(E))`, a `GateNU` on the domain features'
    embeddings and the whole embedding block under stop-gradient `∅`; eq 4:
    `O_ep = delta_domain ⊗ E`. The stop-gradient keeps the gate from training the shared
    embeddings: they learn through the main path `delta ⊗ E` only, while the domain
    features' embeddings learn through the gate too.

    Differs from the paper: the gate is element-wise over the whole block (one value per
    embedding column, `delta` is `[B, D]`), the paper's general form; its Kuaishou
    deployment scales each feature's embedding; `E(F_d)` are columns of the same embedding
    block (`FeatureSelect`), not a separate domain-side table.

    Args:
        gate_units: int. Width of the gate's hidden layer. Defaults to `64`.
        gamma: float. Upper bound of the gate (`GateNU`). Defaults to `2.0`.

    Call arguments:
        inputs: list `[embedding, domain]`: the embedding block `E` `[B, D]` and the
            domain features' embeddings `E(F_d)` `[B, D_d]`.
        return_gates: bool. Also return `delta_domain` `[B, D]`. Defaults to `False`.

    Returns:
        `O_ep` `[B, D]`; with `return_gates=True`, the pair `(O_ep, delta_domain)`.

    Example:

    >>> from tfmtl.layers.pepnet import EPNet
    >>> epnet = EPNet(gate_units=8)
    >>> o_ep, delta = epnet([np.ones((4, 6), "float32"), np.ones((4, 2))], return_gates=True)
    >>> tuple(o_ep.shape), tuple(delta.shape)
    ((4, 6), (4, 6))
    """

    def __init__(self, gate_units: int = 64, gamma: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate_units, self.gamma = _check_gate("EPNet", gate_units, gamma)
        self.gate = None

    def build(self, input_shape) -> None:
        if len(input_shape) != 2 or not all(isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(
                "EPNet takes a list [embedding, domain] of two tensors. Received input "
                f"shape: {input_shape}"
            )
        embedding, domain = (tuple(s) for s in input_shape)
        self.gate = GateNU(self.gate_units, embedding[-1], self.gamma, name="gate")
        self.gate.build(embedding[:-1] + (domain[-1] + embedding[-1],))
        self.built = True

    def call(self, inputs, return_gates: bool = False):
        embedding, domain = inputs
        domain = ops.cast(domain, embedding.dtype)
        # PEPNet eq 3: the gate reads the domain and the embedding block under stop-gradient.
        delta = self.gate(ops.concatenate([domain, ops.stop_gradient(embedding)], axis=-1))
        outputs = delta * embedding  # PEPNet eq 4
        return (outputs, delta) if return_gates else outputs

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "gate_units": self.gate_units, "gamma": self.gamma}
