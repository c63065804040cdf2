"""ExpertBank (k experts as one batched kernel) and Gate (softmax over experts)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfmtl")
class ExpertBank(keras.layers.Layer):
    """`num_experts` MLP experts of identical shape, computed as one batched kernel.

    Layer l holds ONE kernel `[num_experts, in, out]`; the whole bank is one einsum per
    layer, never a Python loop of Dense layers. The input is either one tensor `[B, D]`
    seen by every expert, or one input per expert `[B, num_experts, D]` (used when the
    experts of a group read different selectors, e.g. PLE's upper levels).

    Args:
        num_experts: int. Number of experts in the bank.
        units: list of int. Hidden sizes of every expert's MLP.
        activation: str. Activation after every layer (experts end in it too, as in
            MMoE and PLE). Defaults to `"relu"`.

    Returns `[B, num_experts, units[-1]]`.

    Example:

    >>> bank = tfmtl.layers.ExpertBank(num_experts=3, units=[8, 4])
    >>> tuple(bank(np.ones((2, 16), "float32")).shape)
    (2, 3, 4)
    """

    def __init__(self, num_experts: int, units: list[int], activation: str = "relu", **kwargs):
        super().__init__(**kwargs)
        units = [int(u) for u in units]
        if num_experts < 1:
            raise ValueError(f"ExpertBank needs num_experts >= 1. Received: num_experts={num_experts}")
        if not units or any(u < 1 for u in units):
            raise ValueError(f"ExpertBank units must be a non-empty list of positive ints. Received: units={units}")
        self.num_experts, self.units, self.activation = int(num_experts), units, activation
        self._activation = keras.activations.get(activation)

    def build(self, input_shape):
        d_in = int(input_shape[-1])
        # Glorot per expert: fans of one [d_in, out] matrix, not of the stacked tensor.
        init = keras.initializers.VarianceScaling(
            scale=float(self.num_experts), mode="fan_avg", distribution="uniform"
        )
        self.kernels, self.biases = [], []
        for i, units in enumerate(self.units):
            self.kernels.append(
                self.add_weight(name=f"kernel_{i}", shape=(self.num_experts, d_in, units), initializer=init)
            )
            self.biases.append(
                self.add_weight(name=f"bias_{i}", shape=(self.num_experts, units), initializer="zeros")
            )
            d_in = units

    def call(self, x):
        h = x
        for kernel, bias in zip(self.kernels, self.biases):
            if len(h.shape) == 2:
                h = ops.einsum("bd,edu->beu", h, kernel)
            else:
                h = ops.einsum("bed,edu->beu", h, kernel)
            h = self._activation(h + bias)
        return h

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_experts, self.units[-1])

    def get_config(self):
        return {
            **super().get_config(),
            "num_experts": self.num_experts,
            "units": self.units,
            "activation": self.activation,
        }


@keras.saving.register_keras_serializable(package="tfmtl")
class Gate(keras.layers.Layer):
    """Softmax gate over experts: `w(x) = softmax(W_g x)` (PLE eq 3, MMoE's g_k).

    Args:
        num_experts: int. Number of experts the gate weighs.

    Returns `[B, num_experts]`, each row summing to 1.

    Example:

    >>> w = tfmtl.layers.Gate(num_experts=3)(np.ones((2, 16), "float32"))
    >>> np.allclose(np.asarray(w).sum(axis=1), 1.0)
    True
    """

    def __init__(self, num_experts: int, **kwargs):
        super().__init__(**kwargs)
        if num_experts < 1:
            raise ValueError(f"Gate needs num_experts >= 1. Received: num_experts={num_experts}")
        self.num_experts = int(num_experts)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel", shape=(int(input_shape[-1]), self.num_experts), initializer="glorot_uniform"
        )
        self.bias = self.add_weight(name="bias", shape=(self.num_experts,), initializer="zeros")

    def call(self, x):
        return ops.softmax(ops.matmul(x, self.kernel) + self.bias, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.num_experts,)

    def get_config(self):
        return {**super().get_config(), "num_experts": self.num_experts}


def mix(weights, experts):
    """Gated sum of expert outputs: `sum_i w_i * E_i` (PLE eq 2: g(x) = w(x) S(x)).

    `weights` is `[B, E]`, `experts` is `[B, E, U]`; returns `[B, U]`.
    """
    return ops.einsum("be,beu->bu", weights, experts)
