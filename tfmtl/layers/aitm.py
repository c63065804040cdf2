"""AITM (Xi et al., KDD'21): adaptive information transfer along a funnel, and its calibrator."""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfmtl")
class AITM(keras.layers.Layer):
    """Adaptive Information Transfer Multi-task: each step of a funnel attends to the step before.

    Task t's own representation `q_t` (its tower bottom) and the information transferred
    from task t-1, `p_{t-1} = g_{t-1}(z_{t-1})` (one ReLU layer), are combined by the AIT
    module's self-attention over the pair (AITM eq 2-5):
    `w_u = softmax_u(<h1(u), h2(u)> / sqrt(d))`, `z_t = sum_{u in {p_{t-1}, q_t}} w_u h3(u)`,
    with h1, h2, h3 linear projections; the first task keeps `z_1 = q_1`. Towers then
    predict `y_t` from `z_t`; `BehaviourCalibration` adds the calibrator loss.

    Args:
        return_attention: bool. Also return the AIT weights. Defaults to `False`.

    Returns:
        The list of T tensors `z_t` `[B, D]`, one per funnel step of the input list of T >= 2
        tensors `[B, D]`; with `return_attention=True`, the pair `(z, weights)`, `weights`
        the T-1 attention weights `[B, 2]` (weight of `p_{t-1}`, then of `q_t`).

    Example:

    >>> z = tfmtl.layers.AITM()([np.ones((4, 8), "float32"), np.zeros((4, 8), "float32")])
    >>> [tuple(t.shape) for t in z]
    [(4, 8), (4, 8)]
    """

    def __init__(self, return_attention: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.return_attention = bool(return_attention)

    def build(self, input_shape):
        if (
            not isinstance(input_shape, (list, tuple))
            or len(input_shape) < 2
            or not isinstance(input_shape[0], (list, tuple))
        ):
            raise ValueError(
                f"AITM '{self.name}' takes a list of >= 2 task representations. Received: "
                f"{input_shape}"
            )
        dims = [int(s[-1]) for s in input_shape]
        if len(set(dims)) != 1:
            raise ValueError(
                f"AITM '{self.name}' needs task representations of one width. Received widths "
                f"{dims}."
            )
        d, steps = dims[0], len(input_shape) - 1
        self.dim = d
        self.transfer = [
            keras.layers.Dense(d, activation="relu", name=f"transfer_{t}") for t in range(steps)
        ]
        self.h1 = [keras.layers.Dense(d, name=f"query_{t + 1}") for t in range(steps)]
        self.h2 = [keras.layers.Dense(d, name=f"key_{t + 1}") for t in range(steps)]
        self.h3 = [keras.layers.Dense(d, name=f"value_{t + 1}") for t in range(steps)]
        for layer in self.transfer + self.h1 + self.h2 + self.h3:
            layer.build((None, d))
        self.built = True

    def call(self, inputs):
        z, weights = [inputs[0]], []
        for t in range(1, len(inputs)):
            u = ops.stack(
                [self.transfer[t - 1](z[-1]), inputs[t]], axis=1
            )  # [B, 2, d]: p_{t-1}, q_t
            scores = ops.sum(self.h1[t - 1](u) * self.h2[t - 1](u), axis=-1) / math.sqrt(self.dim)
            w = ops.softmax(scores, axis=-1)  # AITM eq 4
            z.append(ops.einsum("bu,bud->bd", w, self.h3[t - 1](u)))  # AITM eq 3
            weights.append(w)
        return (z, weights) if self.return_attention else z

    def get_config(self):
        return {**super().get_config(), "return_attention": self.return_attention}


@keras.saving.register_keras_serializable(package="tfmtl")
class BehaviourCalibration(keras.layers.Layer):
    """AITM's behavioural expectation calibrator: a later funnel step may not be likelier.

    Passes the step probabilities through unchanged and adds
    `weight · sum_{t>=2} mean_i max(ŷ_t^i - ŷ_{t-1}^i, 0)` (AITM eq 7, α = `weight`)
    to the model's loss through `add_loss`.

    Args:
        weight: float. α, the calibrator's weight. Defaults to 0.6 (the AITM paper's).

    Returns:
        The input list of T funnel-step probabilities `[B]`, unchanged; the layer adds
        `weight` times the calibrator penalty (AITM eq 7) to the model's losses.

    Example:

    >>> ys = tfmtl.layers.BehaviourCalibration(0.6)([np.array([0.2]), np.array([0.5])])
    >>> len(ys)
    2
    """

    def __init__(self, weight: float = 0.6, **kwargs):
        super().__init__(**kwargs)
        if float(weight) < 0:
            raise ValueError(f"BehaviourCalibration weight must be >= 0. Received: weight={weight}")
        self.weight = float(weight)

    def penalty(self, probabilities):
        """`sum_{t>=2} mean_i max(ŷ_t - ŷ_{t-1}, 0)` (AITM eq 7 without α)."""
        total = 0.0
        for prev, cur in zip(probabilities[:-1], probabilities[1:]):
            total = total + ops.mean(ops.relu(cur - prev))
        return total

    def call(self, inputs):
        inputs = list(inputs)
        if self.weight:
            self.add_loss(self.weight * self.penalty(inputs))
        return [ops.copy(p) for p in inputs]

    def compute_output_shape(self, input_shape):
        return [tuple(s) for s in input_shape]

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}
