"""ExpertBank (k experts as one batched kernel) and Gate (softmax, top-k or DSelect-k)."""

from __future__ import annotations

import keras
from keras import ops

from tfmtl.layers.sparse_gates import check_gate_options, gate_weights, logit_width


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

    Returns:
        One tensor `[B, E, H]`: E = `num_experts` outputs of width H = `units[-1]` for an
        input `[B, D]` (or `[B, E, D]`, one input per expert).

    Example:

    >>> bank = tfmtl.layers.ExpertBank(num_experts=3, units=[8, 4])
    >>> tuple(bank(np.ones((2, 16), "float32")).shape)
    (2, 3, 4)
    """

    def __init__(self, num_experts: int, units: list[int], activation: str = "relu", **kwargs):
        super().__init__(**kwargs)
        units = [int(u) for u in units]
        if num_experts < 1:
            raise ValueError(
                f"ExpertBank needs num_experts >= 1. Received: num_experts={num_experts}"
            )
        if not units or any(u < 1 for u in units):
            raise ValueError(
                "ExpertBank units must be a non-empty list of positive ints. Received: "
                f"units={units}"
            )
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
                self.add_weight(
                    name=f"kernel_{i}", shape=(self.num_experts, d_in, units), initializer=init
                )
            )
            self.biases.append(
                self.add_weight(
                    name=f"bias_{i}", shape=(self.num_experts, units), initializer="zeros"
                )
            )
            d_in = units

    def call(self, x):
        if len(x.shape) == 2:
            return run_banks(x, [self])[0][0]
        for kernel, bias in zip(self.kernels, self.biases):
            x = self._activation(ops.einsum("bed,edu->beu", x, kernel) + bias)
        return x

    def deeper_layers(self, h):
        """Layers 2.. of every expert on the first layer's output `h` `[B, E, U]`."""
        for kernel, bias in zip(self.kernels[1:], self.biases[1:]):
            h = self._activation(ops.einsum("bed,edu->beu", h, kernel) + bias)
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
    """Gate over experts: a linear head `z = W_g x + b`, then its kind's weights.

    `kind="softmax"` is `w(x) = softmax(W_g x)` (PLE eq 3, MMoE's g_k); `"topk"` keeps the
    k largest logits (Shazeer et al., ICLR'17, eq 3-5) and adds their importance CV² loss
    (eq 6-7); `"dselect"` is per-example DSelect-k (Hazimeh et al., NeurIPS'21, eq 4-7) and
    adds its selectors' entropy (see `tfmtl.layers.sparse_gates`). The losses are added with
    `add_loss`, times `loss_weight`. Switchers that fuse the head into one GEMM
    (`run_banks`) read `kernel`, `bias` and turn the logits into weights with
    `weights_from_logits`, which `call` uses too.

    Differs from the papers: top-k has no noise term (Shazeer eq 4), the gate is always
    differentiable through the kept logits; DSelect-k masks and renormalises the codes past
    E when E is not a power of two.

    Args:
        num_experts: int. Number of experts the gate weighs.
        kind: str. `"softmax"`, `"topk"` or `"dselect"`. Defaults to `"softmax"`.
        k: int. Experts kept by top-k, selectors of DSelect-k (k >= E keeps all: top-k is
            then the softmax gate). Unused by softmax. Defaults to `2`.
        loss_weight: float. Weight of the auxiliary loss of top-k and DSelect-k.
            Defaults to `0.01`.
        gamma: float. Width γ of DSelect-k's smooth-step (eq 4). Defaults to `1.0`.
        num_gates: int. Gates computed by this one head, e.g. one per expert of a level
            (ML-MMoE). Defaults to `1`.

    Call arguments:
        x: tensor `[B, D]`.

    Returns:
        One tensor `[B, E]`, E = `num_experts` (`[B, num_gates, E]` for `num_gates > 1`),
        each row non-negative and summing to 1.

    Example:

    >>> w = tfmtl.layers.Gate(num_experts=3)(np.ones((2, 16), "float32"))
    >>> np.allclose(np.asarray(w).sum(axis=1), 1.0)
    True
    >>> w = tfmtl.layers.Gate(num_experts=4, kind="topk", k=2)(np.ones((2, 16), "float32"))
    >>> (np.asarray(w) > 0).sum(axis=1).tolist()
    [2, 2]
    """

    def __init__(
        self,
        num_experts: int,
        kind: str = "softmax",
        k: int = 2,
        loss_weight: float = 0.01,
        gamma: float = 1.0,
        num_gates: int = 1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_experts < 1:
            raise ValueError(f"Gate needs num_experts >= 1. Received: num_experts={num_experts}")
        if int(num_gates) < 1:
            raise ValueError(f"Gate needs num_gates >= 1. Received: num_gates={num_gates}")
        check_gate_options(kind, k, loss_weight, gamma)
        self.num_experts, self.kind, self.k = int(num_experts), kind, int(k)
        self.loss_weight, self.gamma = float(loss_weight), float(gamma)
        self.num_gates = int(num_gates)

    @property
    def logit_width(self) -> int:
        """Width of the linear head: `num_gates` times one gate's logits (E, or k*m + k)."""
        return self.num_gates * logit_width(self.kind, self.num_experts, self.k)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(int(input_shape[-1]), self.logit_width),
            initializer="glorot_uniform",
        )
        self.bias = self.add_weight(name="bias", shape=(self.logit_width,), initializer="zeros")

    def weights_from_logits(self, z):
        """The gate weights `[B, E]` (`[B, num_gates, E]`) of the head's logits `z`."""
        if self.num_gates > 1:
            z = ops.reshape(z, (-1, self.num_gates, self.logit_width // self.num_gates))
        weights, loss = gate_weights(self.kind, z, self.num_experts, self.k, self.gamma)
        if loss is not None and self.loss_weight > 0:
            self.add_loss(self.loss_weight * loss)
        return weights

    def call(self, x):
        return self.weights_from_logits(ops.matmul(x, self.kernel) + self.bias)

    def compute_output_shape(self, input_shape):
        gates = (self.num_gates,) if self.num_gates > 1 else ()
        return tuple(input_shape)[:-1] + gates + (self.num_experts,)

    def get_config(self):
        return {
            **super().get_config(),
            "num_experts": self.num_experts,
            "kind": self.kind,
            "k": self.k,
            "loss_weight": self.loss_weight,
            "gamma": self.gamma,
            "num_gates": self.num_gates,
        }


def mix(weights, experts):
    """Gated sum of expert outputs: `sum_i w_i * E_i` (PLE eq 2: g(x) = w(x) S(x)).

    `weights` is `[B, E]`, `experts` is `[B, E, U]`; returns `[B, U]`. A broadcast multiply
    and a sum, not an einsum: as an einsum it is B tiny `[1, E] x [E, U]` batched matmuls,
    several times slower on CPU (torch eager, TF without XLA), forward and backward.

    Example:

    >>> w = np.array([[0.25, 0.75]], "float32")
    >>> experts = np.array([[[4.0, 0.0], [0.0, 4.0]]], "float32")
    >>> np.asarray(tfmtl.layers.mix(w, experts)).tolist()
    [[1.0, 3.0]]
    """
    return ops.sum(ops.expand_dims(weights, -1) * experts, axis=1)


def run_banks(x, banks, heads=()):
    """Expert banks and linear heads that all read ONE input `x` `[B, D]`, first layers fused.

    The first layer of every expert of every bank, and every head (e.g. all gates of a
    level), is ONE wide GEMM `x @ [K_1 | ... | K_E | G_1 | ...]` (one kernel instead of
    one per bank and per gate, forward and backward); deeper expert layers are one batched
    matmul per bank and layer. The numbers are those of the per-expert equations
    `h_e = act(x K_e + b_e)`, `z_g = x G + c` (the sums only run in another order).

    Args:
        x: `[B, D]` tensor.
        banks: list of built `ExpertBank`.
        heads: list of `(kernel [D, n], bias [n])` pairs, e.g. `(gate.kernel, gate.bias)`.

    Returns:
        The pair `(bank outputs, head logits)`: a list of `[B, E_i, H_i]` tensors, one per
        bank, and a list of `[B, n_j]` tensors, one per head.

    Example:

    >>> x = np.ones((2, 6), "float32")
    >>> bank, gate = tfmtl.layers.ExpertBank(3, [4]), tfmtl.layers.Gate(3)
    >>> bank.build(x.shape)
    >>> gate.build(x.shape)
    >>> outs, (logits,) = run_banks(x, [bank], heads=[(gate.kernel, gate.bias)])
    >>> w = keras.ops.softmax(logits)  # == gate(x)
    >>> tuple(outs[0].shape), bool(np.allclose(w, gate(x)))
    ((2, 3, 4), True)
    """
    kernels, biases, widths = [], [], []
    for bank in banks:
        e, d, u = (int(s) for s in bank.kernels[0].shape)
        kernels.append(ops.reshape(ops.transpose(bank.kernels[0], (1, 0, 2)), (d, e * u)))
        biases.append(ops.reshape(bank.biases[0], (e * u,)))
        widths.append(e * u)
    for kernel, bias in heads:
        kernels.append(kernel)
        biases.append(bias)
        widths.append(int(kernel.shape[-1]))
    if len(kernels) == 1:
        z = [ops.matmul(x, kernels[0]) + biases[0]]
    else:
        wide = ops.matmul(x, ops.concatenate(kernels, axis=1)) + ops.concatenate(biases, axis=0)
        z, start = [], 0
        for w in widths:
            z.append(wide[:, start : start + w])
            start += w
    outs = []
    for bank, zb in zip(banks, z):
        e, u = bank.num_experts, bank.units[0]
        outs.append(bank.deeper_layers(ops.reshape(bank._activation(zb), (-1, e, u))))
    return outs, z[len(banks) :]
