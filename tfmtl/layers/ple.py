"""CGC (Customized Gate Control) and PLE (Progressive Layered Extraction) switchers."""

from __future__ import annotations

import keras
from keras import ops

from tfmtl.layers.experts import ExpertBank, Gate, mix, run_banks
from tfmtl.layers.mmoe import per_level_units
from tfmtl.layers.sparse_gates import gate_options
from tfmtl.layers.switcher import Switcher


@keras.saving.register_keras_serializable(package="tfmtl")
class CGC(Switcher):
    """Customized Gate Control: task-specific plus shared experts (PLE §4.1).

    Task k's gate weighs its own experts and the shared ones only:
    `g^k(x) = w^k(x) S^k(x)` (PLE eq 2), `w^k(x) = softmax(W_g^k x)` (eq 3),
    `S^k(x) = [E_(k,1..m_k), E_(s,1..m_s)]` (eq 4); the tower then computes
    `y^k = t^k(g^k(x))` (eq 5). With `shared_output=True` it also returns the output of a
    shared gate over ALL experts of the level (PLE eq 6's shared module), as PLE's lower
    levels do.

    Args:
        num_outputs: int. Number of tasks.
        num_task_experts: int. Experts per task (m_k, the same for every task).
        num_shared_experts: int. Shared experts (m_s).
        expert_units: list of int. Hidden sizes of every expert.
        shared_output: bool. Append the shared gate's output. Defaults to `False`.
        gate: str or dict. Every gate's kind, `"softmax"`, `"topk"` or `"dselect"`, or a
            dict of `Gate` options (`{"kind": "topk", "k": 1}`). Defaults to `"softmax"`.

    Call arguments:
        inputs: tensor `[B, D]`, or a list of `num_outputs` task views `[B, D]`, optionally
            followed by a shared view. Task k's experts and gate read view k; the shared
            experts and gate read the shared view (the mean of the task views when absent).
        return_gates: bool. Also return the gate weights, named by `gate_names`: task k's
            `[B, num_task_experts + num_shared_experts]`. Defaults to `False`.

    Returns:
        A list of `num_outputs` tensors `[B, expert_units[-1]]` (one more, the shared
        module's, with `shared_output=True`); with `return_gates=True`, the pair
        `(outputs, gates)`.

    Example:

    >>> cgc = tfmtl.layers.CGC(
    ...     num_outputs=2, num_task_experts=1, num_shared_experts=1, expert_units=[8])
    >>> [tuple(o.shape) for o in cgc(np.ones((4, 16), "float32"))]
    [(4, 8), (4, 8)]
    """

    def __init__(
        self,
        num_outputs: int,
        num_task_experts: int,
        num_shared_experts: int,
        expert_units: list[int],
        shared_output: bool = False,
        gate="softmax",
        **kwargs,
    ):
        super().__init__(num_outputs, **kwargs)
        if (
            int(num_task_experts) < 0
            or int(num_shared_experts) < 0
            or int(num_task_experts) + int(num_shared_experts) < 1
        ):
            raise ValueError(
                "CGC needs at least one expert per task gate. Received: "
                f"num_task_experts={num_task_experts}, num_shared_experts={num_shared_experts}"
            )
        self.num_task_experts, self.num_shared_experts = (
            int(num_task_experts),
            int(num_shared_experts),
        )
        self.expert_units, self.shared_output = [int(u) for u in expert_units], bool(shared_output)
        self._gate_options = gate_options(gate)
        self.gate = dict(gate) if isinstance(gate, dict) else self._gate_options["kind"]

    def accepted_view_counts(self):
        return (self.num_outputs, self.num_outputs + 1)

    def build_switcher(self, input_shape):
        t, m_t, m_s = self.num_outputs, self.num_task_experts, self.num_shared_experts
        self.task_experts = (
            ExpertBank(t * m_t, self.expert_units, name="task_experts") if m_t else None
        )
        self.shared_experts = (
            ExpertBank(m_s, self.expert_units, name="shared_experts") if m_s else None
        )
        for bank in (self.task_experts, self.shared_experts):
            if bank is not None:
                bank.build(input_shape)
        options = self._gate_options
        self.task_gates = [Gate(m_t + m_s, **options, name=f"gate_{k}") for k in range(t)]
        self.shared_gate = (
            Gate(t * m_t + m_s, **options, name="shared_gate") if self.shared_output else None
        )
        for gate in self.task_gates + ([self.shared_gate] if self.shared_gate else []):
            gate.build(input_shape)

    def _combine(self, task_views, task_e, shared_view, shared_e, weights=None):
        m_t, outputs = self.num_task_experts, []
        if weights is None:
            weights = [gate(v) for gate, v in zip(self.task_gates, task_views)]
            if self.shared_gate is not None:
                weights.append(self.shared_gate(shared_view))
        for k, w in enumerate(weights[: self.num_outputs]):
            # PLE eq 4: task k's own experts, then the shared experts.
            parts = ([task_e[:, k * m_t : (k + 1) * m_t]] if m_t else []) + (
                [shared_e] if shared_e is not None else []
            )
            outputs.append(mix(w, ops.concatenate(parts, axis=1)))
        if self.shared_gate is not None:
            # PLE eq 6: the shared module's selected matrix holds every expert of the level.
            parts = ([task_e] if m_t else []) + ([shared_e] if shared_e is not None else [])
            outputs.append(mix(weights[-1], ops.concatenate(parts, axis=1)))
        return outputs, weights

    def forward(self, x):
        # One input: both banks' first layers and every gate of the level are one GEMM.
        banks = [b for b in (self.task_experts, self.shared_experts) if b is not None]
        gates = self.task_gates + ([self.shared_gate] if self.shared_gate is not None else [])
        outs, logits = run_banks(x, banks, [(g.kernel, g.bias) for g in gates])
        task_e = outs.pop(0) if self.task_experts else None
        shared_e = outs.pop(0) if self.shared_experts else None
        weights = [g.weights_from_logits(z) for g, z in zip(gates, logits)]
        return self._combine([x] * self.num_outputs, task_e, x, shared_e, weights)

    def forward_views(self, views):
        task_views = views[: self.num_outputs]
        shared_view = (
            views[-1] if len(views) > self.num_outputs else ops.mean(ops.stack(task_views, 0), 0)
        )
        task_e = None
        if self.task_experts:
            per_expert = ops.repeat(ops.stack(task_views, axis=1), self.num_task_experts, axis=1)
            task_e = self.task_experts(per_expert)
        shared_e = self.shared_experts(shared_view) if self.shared_experts else None
        return self._combine(task_views, task_e, shared_view, shared_e)

    @property
    def gate_names(self):
        return [f"task_{k}" for k in range(self.num_outputs)] + (
            ["shared"] if self.shared_output else []
        )

    def get_config(self):
        return {
            **super().get_config(),
            "num_task_experts": self.num_task_experts,
            "num_shared_experts": self.num_shared_experts,
            "expert_units": self.expert_units,
            "shared_output": self.shared_output,
            "gate": dict(self.gate) if isinstance(self.gate, dict) else self.gate,
        }


@keras.saving.register_keras_serializable(package="tfmtl")
class PLE(Switcher):
    """Progressive Layered Extraction: stacked CGC levels (PLE §4.2).

    Level j's task gate reads the level j-1 output of its own task:
    `g^{k,j}(x) = w^{k,j}(g^{k,j-1}(x)) S^{k,j}(x)` (PLE eq 6); the shared module of every
    level but the last mixes all of the level's experts for the level above. The towers
    read the last level: `y^k = t^k(g^{k,N}(x))` (eq 7).

    Args:
        num_outputs: int. Number of tasks.
        num_levels: int. Extraction networks stacked. Defaults to 2.
        num_task_experts: int. Experts per task at every level.
        num_shared_experts: int. Shared experts at every level.
        expert_units: list of int, or one list per level.
        gate: str or dict. Every gate's kind, `"softmax"`, `"topk"` or `"dselect"`, or a
            dict of `Gate` options (`{"kind": "topk", "k": 1}`). Defaults to `"softmax"`.

    Call arguments:
        inputs: tensor `[B, D]`, or a list of `num_outputs` views `[B, D]`.
        return_gates: bool. Also return the gate weights, named by `gate_names`.
            Defaults to `False`.

    Returns:
        A list of `num_outputs` tensors `[B, H]`, H the last level's expert width; with
        `return_gates=True`, the pair `(outputs, gates)`, every level's gates.

    Example:

    >>> ple = tfmtl.layers.PLE(num_outputs=2, num_levels=2, num_task_experts=1,
    ...                        num_shared_experts=1, expert_units=[8])
    >>> [tuple(o.shape) for o in ple(np.ones((4, 16), "float32"))]
    [(4, 8), (4, 8)]
    """

    def __init__(
        self,
        num_outputs: int,
        num_task_experts: int,
        num_shared_experts: int,
        expert_units,
        num_levels: int = 2,
        gate="softmax",
        **kwargs,
    ):
        super().__init__(num_outputs, **kwargs)
        if int(num_levels) < 1:
            raise ValueError(f"PLE needs num_levels >= 1. Received: num_levels={num_levels}")
        self.num_levels = int(num_levels)
        self.num_task_experts, self.num_shared_experts = (
            int(num_task_experts),
            int(num_shared_experts),
        )
        self.expert_units = per_level_units(expert_units, self.num_levels, "PLE")
        options = gate_options(gate)  # checked here; every level's CGC gets `gate`
        self.gate = dict(gate) if isinstance(gate, dict) else options["kind"]

    def accepted_view_counts(self):
        return (self.num_outputs, self.num_outputs + 1)

    def build_switcher(self, input_shape):
        self.levels = []
        shape = tuple(input_shape)
        for j, units in enumerate(self.expert_units):
            level = CGC(
                self.num_outputs,
                self.num_task_experts,
                self.num_shared_experts,
                units,
                shared_output=j < self.num_levels - 1,
                gate=self.gate,
                name=f"level_{j}",
            )
            level.build(shape)
            self.levels.append(level)
            shape = (shape[0], units[-1])

    def _run(self, h):
        gates = []
        for level in self.levels:
            h, level_gates = level(h, return_gates=True)
            gates.extend(level_gates)
        return h, gates

    def forward(self, x):
        return self._run(x)

    def forward_views(self, views):
        return self._run(list(views))

    @property
    def gate_names(self):
        return [f"level_{j}/{n}" for j, level in enumerate(self.levels) for n in level.gate_names]

    def get_config(self):
        return {
            **super().get_config(),
            "num_task_experts": self.num_task_experts,
            "num_shared_experts": self.num_shared_experts,
            "expert_units": self.expert_units,
            "num_levels": self.num_levels,
            "gate": dict(self.gate) if isinstance(self.gate, dict) else self.gate,
        }
