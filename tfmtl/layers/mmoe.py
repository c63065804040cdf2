"""Mixture-of-Experts switchers: OMoE, MMoE and multi-level ML-MMoE."""

from __future__ import annotations

import keras
from keras import ops

from tfmtl.layers.experts import ExpertBank, Gate, mix, run_banks
from tfmtl.layers.sparse_gates import gate_options
from tfmtl.layers.switcher import Switcher


@keras.saving.register_keras_serializable(package="tfmtl")
class MMoE(Switcher):
    """Multi-gate Mixture-of-Experts switcher.

    Each output k mixes the shared experts with its own gate:
    `y_k = sum_i g_k(x)_i * f_i(x)` (Ma et al., KDD'18; PLE Fig. 1g). The gates are softmax
    gates, or sparse ones with `gate="topk"` / `"dselect"` (see `Gate`): their auxiliary
    losses land in the model's `losses`.

    Args:
        num_outputs: int. Number of outputs, one per task.
        num_experts: int. Experts shared by all tasks.
        expert_units: list of int. Hidden sizes of every expert's MLP.
        gate: str or dict. Every gate's kind, `"softmax"`, `"topk"` or `"dselect"`, or a
            dict of `Gate` options (`{"kind": "topk", "k": 1}`). Defaults to `"softmax"`.

    Call arguments:
        inputs: tensor `[B, D]`, or a list of `num_outputs` views `[B, D]`.
        return_gates: bool. Also return each gate's weights `[B, num_experts]`, named by
            `gate_names`. Defaults to `False`.

    Returns:
        A list of `num_outputs` tensors `[B, expert_units[-1]]`; with `return_gates=True`,
        the pair `(outputs, gates)`.

    Example:

    >>> x = np.random.rand(4, 16).astype("float32")
    >>> outs = tfmtl.layers.MMoE(num_outputs=2, num_experts=3, expert_units=[8])(x)
    >>> [tuple(o.shape) for o in outs]
    [(4, 8), (4, 8)]
    """

    def __init__(
        self,
        num_outputs: int,
        num_experts: int,
        expert_units: list[int],
        gate="softmax",
        **kwargs,
    ):
        super().__init__(num_outputs, **kwargs)
        self.num_experts, self.expert_units = int(num_experts), [int(u) for u in expert_units]
        self._gate_options = gate_options(gate)
        self.gate = dict(gate) if isinstance(gate, dict) else self._gate_options["kind"]

    def _num_gates(self):
        return self.num_outputs

    def build_switcher(self, input_shape):
        self.experts = ExpertBank(self.num_experts, self.expert_units, name="experts")
        self.experts.build(input_shape)
        self.gates = [
            Gate(self.num_experts, **self._gate_options, name=f"gate_{k}")
            for k in range(self._num_gates())
        ]
        for gate in self.gates:
            gate.build(input_shape)

    def forward(self, x):
        # The expert bank's first layer and every gate are one GEMM (see run_banks).
        (experts,), logits = run_banks(x, [self.experts], [(g.kernel, g.bias) for g in self.gates])
        weights = [g.weights_from_logits(z) for g, z in zip(self.gates, logits)]
        return [mix(weights[k % len(weights)], experts) for k in range(self.num_outputs)], weights

    @property
    def gate_names(self):
        return [f"task_{k}" for k in range(self._num_gates())]

    def get_config(self):
        return {
            **super().get_config(),
            "num_experts": self.num_experts,
            "expert_units": self.expert_units,
            "gate": dict(self.gate) if isinstance(self.gate, dict) else self.gate,
        }


@keras.saving.register_keras_serializable(package="tfmtl")
class OMoE(MMoE):
    """One-gate Mixture-of-Experts: a single gate shared by all tasks (PLE Fig. 1f).

    `y_k = sum_i g(x)_i * f_i(x)`, the same for every k.

    Args:
        num_outputs: int. Number of outputs, one per task.
        num_experts: int. Experts shared by all tasks.
        expert_units: list of int. Hidden sizes of every expert's MLP.
        gate: str or dict. Every gate's kind, `"softmax"`, `"topk"` or `"dselect"`, or a
            dict of `Gate` options (`{"kind": "topk", "k": 1}`). Defaults to `"softmax"`.

    Call arguments:
        inputs: tensor `[B, D]`, or a list of `num_outputs` views `[B, D]`.
        return_gates: bool. Also return the gate weights, named by `gate_names`.
            Defaults to `False`.

    Returns:
        A list of `num_outputs` tensors `[B, expert_units[-1]]`; with `return_gates=True`,
        the pair `(outputs, gates)`, the one gate `[B, num_experts]`.

    Example:

    >>> omoe = tfmtl.layers.OMoE(num_outputs=2, num_experts=3, expert_units=[8])
    >>> outs = omoe(np.ones((4, 16), "float32"))
    >>> np.allclose(outs[0], outs[1])
    True
    """

    def _num_gates(self):
        return 1

    @property
    def gate_names(self):
        return ["shared"]


@keras.saving.register_keras_serializable(package="tfmtl")
class MLMMoE(Switcher):
    """Multi-level MMoE (PLE §5.1.2, Fig. 1h).

    Level 1 experts read the input. Each expert of level j+1 reads a gated mix of the
    level-j experts; every gate (the experts' and the tasks' at the top) uses the same
    selector, the raw input x.

    Args:
        num_outputs: int. Number of tasks.
        num_experts: int. Experts per level.
        expert_units: list of int, or list of lists. Hidden sizes of every expert; one
            list applies to every level, a list of lists gives each level its own.
        num_levels: int. Number of expert levels. Defaults to 2.
        gate: str or dict. The kind of every gate (the experts' and the tasks'),
            `"softmax"`, `"topk"` or `"dselect"`, or a dict of `Gate` options
            (`{"kind": "dselect", "k": 2}`). Defaults to `"softmax"`.

    Call arguments:
        inputs: tensor `[B, D]`, or a list of `num_outputs` views `[B, D]`.
        return_gates: bool. Also return the gate weights, named by `gate_names`.
            Defaults to `False`.

    Returns:
        A list of `num_outputs` tensors `[B, H]`, H the last level's expert width; with
        `return_gates=True`, the pair `(outputs, gates)`, one task gate `[B, num_experts]`
        per output.

    Example:

    >>> layer = tfmtl.layers.MLMMoE(num_outputs=2, num_experts=3, expert_units=[8], num_levels=2)
    >>> [tuple(o.shape) for o in layer(np.ones((4, 16), "float32"))]
    [(4, 8), (4, 8)]
    """

    def __init__(
        self,
        num_outputs: int,
        num_experts: int,
        expert_units,
        num_levels: int = 2,
        gate="softmax",
        **kwargs,
    ):
        super().__init__(num_outputs, **kwargs)
        if int(num_levels) < 1:
            raise ValueError(f"MLMMoE needs num_levels >= 1. Received: num_levels={num_levels}")
        self.num_experts, self.num_levels = int(num_experts), int(num_levels)
        self._gate_options = gate_options(gate)
        self.gate = dict(gate) if isinstance(gate, dict) else self._gate_options["kind"]
        self.expert_units = per_level_units(expert_units, self.num_levels, "MLMMoE")

    def build_switcher(self, input_shape):
        d = int(input_shape[-1])
        self.levels, self.expert_gates = [], []
        for j, units in enumerate(self.expert_units):
            bank = ExpertBank(self.num_experts, units, name=f"experts_{j}")
            bank.build(
                (None, d) if j == 0 else (None, self.num_experts, self.expert_units[j - 1][-1])
            )
            self.levels.append(bank)
            if j > 0:  # one gate per expert of level j over the experts of level j-1
                n = self.num_experts
                gates = Gate(n, **self._gate_options, num_gates=n, name=f"expert_gates_{j}")
                gates.build(input_shape)
                self.expert_gates.append(gates)
        self.task_gates = [
            Gate(self.num_experts, **self._gate_options, name=f"gate_{k}")
            for k in range(self.num_outputs)
        ]
        for gate in self.task_gates:
            gate.build(input_shape)

    def forward(self, x):
        # Every gate reads x: level 0's first layer and all gates are one GEMM (run_banks).
        gates = self.expert_gates + self.task_gates
        (h,), logits = run_banks(x, [self.levels[0]], [(g.kernel, g.bias) for g in gates])
        for bank, g, z in zip(self.levels[1:], self.expert_gates, logits):
            w = g.weights_from_logits(z)  # [B, experts of j, experts of j-1]
            h = bank(ops.einsum("bfe,beu->bfu", w, h))
        task_logits = logits[len(self.expert_gates) :]
        weights = [g.weights_from_logits(z) for g, z in zip(self.task_gates, task_logits)]
        return [mix(w, h) for w in weights], weights

    @property
    def gate_names(self):
        return [f"task_{k}" for k in range(self.num_outputs)]

    def get_config(self):
        return {
            **super().get_config(),
            "num_experts": self.num_experts,
            "expert_units": self.expert_units,
            "num_levels": self.num_levels,
            "gate": dict(self.gate) if isinstance(self.gate, dict) else self.gate,
        }


def per_level_units(expert_units, num_levels: int, owner: str) -> list[list[int]]:
    """One list of hidden sizes per level, from one list (shared) or a list of lists."""
    units = list(expert_units)
    if units and all(isinstance(u, (list, tuple)) for u in units):
        if len(units) != num_levels:
            raise ValueError(
                f"{owner} got {len(units)} expert_units lists for num_levels={num_levels}. "
                "Give one list per level, or one list for all levels."
            )
        return [[int(v) for v in u] for u in units]
    return [[int(v) for v in units] for _ in range(num_levels)]
