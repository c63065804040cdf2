"""STEM: shared and task-specific embeddings, and the All-Forward-Task-specific-Backward gate."""

from __future__ import annotations

import keras
from keras import ops

from tfmtl.layers.experts import ExpertBank, Gate, mix
from tfmtl.layers.switcher import Switcher


@keras.saving.register_keras_serializable(package="tfmtl")
class STEM(Switcher):
    """STEM-Net's expert layer (Su et al., AAAI'24, "STEM: Unleashing the Power of Embeddings").

    The input is T + 1 views: task t's own embedding `e^t` (t = 1..T), then the shared
    embedding `e^s` (STEM eq 1, the shared and task-specific embeddings). Task t's
    experts read `e^t`, the shared experts read `e^s`: `h^t_i = f^t_i(e^t)`,
    `h^s_i = f^s_i(e^s)` (STEM eq 2). Task t's gate reads its own and the shared
    embedding, `w^t = softmax(W^t (e^t + e^s) + b^t)`, and weighs EVERY expert of the
    layer, every task's and the shared ones (STEM eq 3). All-Forward-Task-specific-
    Backward (AFTB, STEM eq 4): the experts of the other tasks enter task t's mixture
    through a stop-gradient,

    `y^t = sum_i w^t_(t,i) h^t_i + sum_(j != t, i) w^t_(j,i) sg(h^j_i) + sum_i w^t_(s,i) h^s_i`,

    so task t's loss reads the other tasks' experts forward but never updates them, nor
    the task-specific embeddings under them; the shared experts and embedding, and task
    t's own, get task t's gradient as usual. Gate columns are ordered task 1's experts,
    ..., task T's experts, then the shared experts.

    Differs from the paper: one expert layer, not a stack of them (the paper's default;
    the reference code's extra shared gate feeds only a second layer, so it is left out);
    the gates are one linear layer and a softmax (PLE eq 3), not an MLP; experts have no
    dropout or batch norm. Given one tensor, every view is that tensor; given T views, the
    shared view is their mean (as `CGC` does).

    Args:
        num_outputs: int. Number of tasks T.
        num_task_experts: int. Experts per task (at least 1). Defaults to `1`.
        num_shared_experts: int. Shared experts (0 or more). Defaults to `1`.
        expert_units: list of int. Hidden sizes of every expert's MLP (each layer ends in a
            ReLU). Defaults to `[128, 64]`.

    Call arguments:
        inputs: list of `num_outputs + 1` views `[B, D]` (the task embeddings, then the
            shared one), a list of `num_outputs` task views, or one tensor `[B, D]`.
        return_gates: bool. Also return task t's gate weights, `[B, E]` with
            E = `num_outputs * num_task_experts + num_shared_experts`, named by
            `gate_names`. Defaults to `False`.

    Returns:
        A list of `num_outputs` tensors `[B, expert_units[-1]]`; with `return_gates=True`,
        the pair `(outputs, gates)`.

    Example:

    >>> from tfmtl.layers.stem import STEM  # also tfmtl.layers.STEM
    >>> stem = STEM(num_outputs=2, expert_units=[8])
    >>> views = [np.ones((4, 6), "float32") * v for v in (1.0, 2.0, 3.0)]
    >>> outputs, gates = stem(views, return_gates=True)
    >>> [tuple(o.shape) for o in outputs], tuple(gates[0].shape), stem.gate_names
    ([(4, 8), (4, 8)], (4, 3), ['task_0', 'task_1'])
    """

    def __init__(
        self,
        num_outputs: int,
        num_task_experts: int = 1,
        num_shared_experts: int = 1,
        expert_units: list[int] | tuple[int, ...] = (128, 64),
        **kwargs,
    ):
        super().__init__(num_outputs, **kwargs)
        if int(num_task_experts) < 1 or int(num_shared_experts) < 0:
            raise ValueError(
                "STEM needs num_task_experts >= 1 (task t's experts read task t's embedding) "
                "and num_shared_experts >= 0. Received: "
                f"num_task_experts={num_task_experts}, num_shared_experts={num_shared_experts}."
            )
        units = [int(u) for u in expert_units]
        if not units or any(u < 1 for u in units):
            raise ValueError(
                "STEM expert_units must be a non-empty list of positive ints. Received: "
                f"expert_units={list(expert_units)}."
            )
        self.num_task_experts = int(num_task_experts)
        self.num_shared_experts = int(num_shared_experts)
        self.expert_units = units

    @property
    def num_experts(self) -> int:
        """Experts every gate weighs: `T * num_task_experts + num_shared_experts`."""
        return self.num_outputs * self.num_task_experts + self.num_shared_experts

    def accepted_view_counts(self):
        return (self.num_outputs, self.num_outputs + 1)

    def build_switcher(self, input_shape):
        t, m_t, m_s = self.num_outputs, self.num_task_experts, self.num_shared_experts
        # One bank for every task's experts: expert j * m_t + i is task j's i-th (STEM eq 2).
        self.task_experts = ExpertBank(t * m_t, self.expert_units, name="task_experts")
        self.task_experts.build(input_shape)
        self.shared_experts = (
            ExpertBank(m_s, self.expert_units, name="shared_experts") if m_s else None
        )
        if self.shared_experts is not None:
            self.shared_experts.build(input_shape)
        self.task_gates = [Gate(self.num_experts, name=f"gate_{k}") for k in range(t)]
        for gate in self.task_gates:
            gate.build(input_shape)

    def forward(self, x):
        return self.forward_views([x] * (self.num_outputs + 1))

    def forward_views(self, views):
        t, m_t = self.num_outputs, self.num_task_experts
        task_views = list(views[:t])
        shared_view = views[t] if len(views) > t else ops.mean(ops.stack(task_views, 0), 0)
        # Task j's experts read task j's embedding: one input per expert, [B, T * m_t, D].
        per_expert = ops.repeat(ops.stack(task_views, axis=1), m_t, axis=1)
        task_e = self.task_experts(per_expert)  # [B, T * m_t, H]
        frozen = ops.stop_gradient(task_e)
        shared_e = self.shared_experts(shared_view) if self.shared_experts else None
        outputs, gates = [], []
        for k in range(t):
            weights = self.task_gates[k](task_views[k] + shared_view)  # STEM eq 3
            outputs.append(mix(weights, self._aftb_experts(k, task_e, frozen, shared_e)))
            gates.append(weights)
        return outputs, gates

    def _aftb_experts(self, k, task_e, frozen, shared_e):
        """Every expert as task k's gate sees it (STEM eq 4): other tasks' ones stop-gradient."""
        m_t = self.num_task_experts
        start, stop = k * m_t, (k + 1) * m_t
        parts = [frozen[:, :start]] if start else []
        parts.append(task_e[:, start:stop])
        if stop < self.num_outputs * m_t:
            parts.append(frozen[:, stop:])
        if shared_e is not None:
            parts.append(shared_e)
        return ops.concatenate(parts, axis=1)

    @property
    def gate_names(self):
        return [f"task_{k}" for k in range(self.num_outputs)]

    def get_config(self):
        return {
            **super().get_config(),
            "num_task_experts": self.num_task_experts,
            "num_shared_experts": self.num_shared_experts,
            "expert_units": self.expert_units,
        }
