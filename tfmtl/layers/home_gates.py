"""HoME's expert blocks: the low-rank feature-gate and normalised Swish experts (Wang et al. 2024).

Both hold one batched kernel per weight for all `E` experts of a level and read either one
input `[B, D]` seen by every expert or one input per expert `[B, E, D]`.
"""

from __future__ import annotations

import keras
from keras import ops


def _per_expert_init(num_experts: int) -> keras.initializers.Initializer:
    # Glorot per expert: Keras counts the leading E axis into both fans, scale it back out.
    return keras.initializers.VarianceScaling(
        scale=float(num_experts), mode="fan_avg", distribution="uniform"
    )


@keras.saving.register_keras_serializable(package="tfmtl")
class FeatureGate(keras.layers.Layer):
    """Private input view per expert: `x_e = x * 2 * sigmoid(x A_e B_e)` (HoME §3.4, feature-gate).

    Each expert `e` rescales every input feature by `Fea_Gate_e(x) = 2 * sigmoid(x A_e B_e)`,
    a LoRA-style low-rank MLP with `A_e` `[D, r]` and `B_e` `[r, D]`; the factor 2 keeps the
    average scale at 1. `B_e` starts at zero, so a new gate is the identity (as LoRA starts
    its update at zero) and each expert learns its own view of the features from there.

    Args:
        num_experts: int. Experts E, each with its own gate.
        rank: int. Rank r of the low-rank factors. Defaults to `8`.

    Call arguments:
        inputs: tensor `[B, D]` (one input for every expert) or `[B, E, D]` (one per expert).

    Returns:
        A tensor `[B, E, D]`: each expert's gated view of its input.

    Example:

    >>> from tfmtl.layers.home_gates import FeatureGate
    >>> gate = FeatureGate(num_experts=3, rank=2)
    >>> views = gate(np.ones((4, 6), "float32"))
    >>> tuple(views.shape), bool(np.allclose(views, 1.0))  # B_e = 0: the identity at first
    ((4, 3, 6), True)
    """

    def __init__(self, num_experts: int, rank: int = 8, **kwargs):
        super().__init__(**kwargs)
        if int(num_experts) < 1 or int(rank) < 1:
            raise ValueError(
                "FeatureGate needs num_experts >= 1 and rank >= 1. Received: "
                f"num_experts={num_experts}, rank={rank}"
            )
        self.num_experts, self.rank = int(num_experts), int(rank)

    def build(self, input_shape):
        d, e = int(input_shape[-1]), self.num_experts
        self.down = self.add_weight(
            name="down", shape=(e, d, self.rank), initializer=_per_expert_init(e)
        )
        self.up = self.add_weight(name="up", shape=(e, self.rank, d), initializer="zeros")

    def call(self, x):
        if len(x.shape) == 2:
            low = ops.einsum("bd,edr->ber", x, self.down)
            x = ops.expand_dims(x, 1)  # broadcasts over the E axis below
        else:
            low = ops.einsum("bed,edr->ber", x, self.down)
        return x * (2.0 * ops.sigmoid(ops.einsum("ber,erd->bed", low, self.up)))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_experts, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "num_experts": self.num_experts, "rank": self.rank}


@keras.saving.register_keras_serializable(package="tfmtl")
class NormalizedExperts(keras.layers.Layer):
    """E MLP experts whose every layer is `h = swish(norm(h W_e + b_e))` (HoME §3.2).

    HoME's expert normalisation & Swish: normalising each expert's pre-activation puts all
    experts' outputs on one scale (mean 0, variance 1 before the learnt scale `gamma_e` and
    offset `beta_e`), so no gate is drawn to an expert for its magnitude alone, and Swish
    (`z * sigmoid(z)`) has no dead zero region like ReLU's (the paper's >90% zero
    activations, expert collapse).

    Differs from the paper: the paper uses BatchNorm; this normalises each sample over the
    expert's units (LayerNorm, one `gamma_e`, `beta_e` per expert). It has no moving
    statistics, so training and serving compute the same function, a one-row request gets
    the numbers of a batched one, and the exported graph is deterministic; it still aligns
    the experts' output distributions, which is what the paper needs the norm for.

    Args:
        num_experts: int. Experts E.
        units: list of int. Hidden sizes of every expert's MLP, each at least 2 (the
            normalisation of one unit is constant).
        epsilon: float. Added to the variance. Defaults to `1e-3`.

    Call arguments:
        inputs: tensor `[B, D]` (every expert reads it) or `[B, E, D]` (one input per expert).

    Returns:
        A tensor `[B, E, H]`, H = `units[-1]`.

    Example:

    >>> from tfmtl.layers.home_gates import NormalizedExperts
    >>> experts = NormalizedExperts(num_experts=2, units=[8, 4])
    >>> h = experts(np.random.rand(5, 6).astype("float32"))
    >>> tuple(h.shape)
    (5, 2, 4)
    """

    def __init__(self, num_experts: int, units: list[int], epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        units = [int(u) for u in units]
        if int(num_experts) < 1:
            raise ValueError(
                f"NormalizedExperts needs num_experts >= 1. Received: num_experts={num_experts}"
            )
        if not units or any(u < 2 for u in units):
            raise ValueError(
                "NormalizedExperts units must be a non-empty list of ints >= 2 (normalising one "
                f"unit gives a constant). Received: units={units}"
            )
        self.num_experts, self.units, self.epsilon = int(num_experts), units, float(epsilon)

    def build(self, input_shape):
        d, e = int(input_shape[-1]), self.num_experts
        self.kernels, self.biases, self.scales, self.offsets = [], [], [], []
        for i, u in enumerate(self.units):
            add = self.add_weight
            self.kernels.append(
                add(name=f"kernel_{i}", shape=(e, d, u), initializer=_per_expert_init(e))
            )
            self.biases.append(add(name=f"bias_{i}", shape=(e, u), initializer="zeros"))
            self.scales.append(add(name=f"gamma_{i}", shape=(e, u), initializer="ones"))
            self.offsets.append(add(name=f"beta_{i}", shape=(e, u), initializer="zeros"))
            d = u

    def call(self, x):
        for i in range(len(self.units)):
            if len(x.shape) == 2:
                z = ops.einsum("bd,edu->beu", x, self.kernels[i])
            else:
                z = ops.einsum("bed,edu->beu", x, self.kernels[i])
            z = z + self.biases[i]
            mean = ops.mean(z, axis=-1, keepdims=True)
            var = ops.mean(ops.square(z - mean), axis=-1, keepdims=True)
            z = (z - mean) * ops.rsqrt(var + self.epsilon) * self.scales[i] + self.offsets[i]
            x = z * ops.sigmoid(z)  # Swish
        return x

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_experts, self.units[-1])

    def get_config(self):
        return {
            **super().get_config(),
            "num_experts": self.num_experts,
            "units": self.units,
            "epsilon": self.epsilon,
        }
