"""HoME: Hierarchy of Multi-Gate Experts (Wang et al., Kuaishou 2024, arXiv:2408.05430)."""

from __future__ import annotations

import keras
from keras import ops

from tfmtl.layers.experts import Gate, mix
from tfmtl.layers.home_gates import FeatureGate, NormalizedExperts
from tfmtl.layers.mmoe import per_level_units
from tfmtl.layers.switcher import Switcher


@keras.saving.register_keras_serializable(package="tfmtl")
class HoME(Switcher):
    """HoME: meta-shared, group and task experts, each task gated over its own hierarchy.

    Every level holds three kinds of experts: `m_s` meta-level experts shared by all tasks,
    `m_g` category-level experts per task group (tasks grouped by `task_groups`, the
    paper's "passive" and "interaction" behaviours), and `m_t` experts per task. HoME's
    fixes for MMoE's anomalies (§3):

    - expert normalisation & Swish (§3.2): each expert layer is
      `Swish(Norm(W_e h + b_e))` (`NormalizedExperts`), so the gates mix experts of one scale
      and no expert dies in ReLU's zero region (expert collapse);
    - hierarchy mask (§3.3): task k's gate is a softmax over ONLY its hierarchy,
      `S_k = [E_meta, E_group(k), E_task(k)]`, so `y_k = sum_e softmax(W_k x)_e S_k,e`; it
      does not see (gives no weight to) other groups' or tasks' experts, and shared
      experts cannot be taken over by one task (expert degradation);
    - feature-gate (§3.4): expert e reads a private view
      `x_e = x * 2 * sigmoid(x A_e B_e)` (`FeatureGate`, LoRA-style rank
      `feature_gate_rank`), so experts of one level see the features differently;
    - self-gate (§3.4): from the second level on, task k's previous output `y_k^{j-1}` joins
      its hierarchy as one more gated input, `y_k^j = sum_e w_e S_k,e + w_self y_k^{j-1}`,
      weighed by level j's own gate (a residual path that keeps deeper levels trainable
      and the sparse tasks' experts fed: expert underfitting).

    Level 1 reads x (or view k for task k); level j > 1 reads the level below: task k's
    experts and gate read `y_k^{j-1}`, group experts the mean of their group's outputs,
    meta experts the mean of all outputs.

    Differs from the paper: the paper's expert norm is BatchNorm; this is a per-expert
    LayerNorm (no moving statistics, so training and serving agree, one-row requests
    included; see `NormalizedExperts`). The paper's second level feeds each category its
    own gated meta output; here group and meta experts read means of the task outputs, and
    every level has the same three kinds of experts. The self-gate is a softmax slot of the
    upper gate rather than a separate sigmoid, so every gate stays a distribution. The
    three expert counts are one argument `num_experts` and `feature_gate_rank=0` turns the
    feature-gate off (the 7-argument limit).

    Args:
        num_outputs: int. Number of tasks T.
        expert_units: list of int, or one list per level. Hidden sizes of every expert.
        task_groups: list of lists of task indices, or `None`. Partition of the tasks into
            categories, e.g. `[[0, 1], [2]]`; `None` is one group of all tasks.
            Defaults to `None`.
        num_experts: list of 3 ints. Experts per level `[m_s, m_g, m_t]`: meta-shared,
            per group, per task. Defaults to `(1, 1, 1)`.
        num_levels: int. Expert levels; from 2 on, levels are self-gated. Defaults to `1`.
        feature_gate_rank: int. Rank of each expert's feature-gate; 0 turns it off.
            Defaults to `8`.
        self_gate: bool. Add the self-gated residual slot at levels 2.. Defaults to `True`.

    Call arguments:
        inputs: tensor `[B, D]`, or a list of T task views `[B, D]` (task k's experts and
            gate read view k; group and meta experts read the views' means).
        return_gates: bool. Also return every gate's weights, named by `gate_names`: task
            k's `[B, m_s + m_g + m_t]` (one more column, the self slot, at levels 2..), in
            the order meta, group, task, self. Defaults to `False`.

    Returns:
        A list of T tensors `[B, H]`, H the last level's expert width; with
        `return_gates=True`, the pair `(outputs, gates)`.

    Example:

    >>> from tfmtl.layers.home import HoME
    >>> home = HoME(num_outputs=3, expert_units=[8], task_groups=[[0, 1], [2]])
    >>> outputs, gates = home(np.ones((4, 6), "float32"), return_gates=True)
    >>> [tuple(y.shape) for y in outputs], home.gate_names, tuple(gates[0].shape)
    ([(4, 8), (4, 8), (4, 8)], ['task_0', 'task_1', 'task_2'], (4, 3))
    """

    def __init__(
        self,
        num_outputs: int,
        expert_units,
        task_groups=None,
        num_experts=(1, 1, 1),
        num_levels: int = 1,
        feature_gate_rank: int = 8,
        self_gate: bool = True,
        **kwargs,
    ):
        super().__init__(num_outputs, **kwargs)
        counts = [int(n) for n in num_experts] if isinstance(num_experts, (list, tuple)) else []
        if len(counts) != 3 or min(counts) < 0 or sum(counts) < 1:
            raise ValueError(
                "HoME takes num_experts=[meta-shared, per group, per task], three ints >= 0 "
                f"with at least one expert. Received: num_experts={num_experts}"
            )
        if int(num_levels) < 1 or int(feature_gate_rank) < 0:
            raise ValueError(
                "HoME needs num_levels >= 1 and feature_gate_rank >= 0. Received: "
                f"num_levels={num_levels}, feature_gate_rank={feature_gate_rank}"
            )
        self.num_experts, self.num_levels = counts, int(num_levels)
        self.feature_gate_rank, self.self_gate = int(feature_gate_rank), bool(self_gate)
        self.expert_units = per_level_units(expert_units, self.num_levels, "HoME")
        widths = [u[-1] for u in self.expert_units]
        if self.self_gate and len(set(widths)) > 1:
            raise ValueError(
                f"HoME's self-gate adds each level's output to the next, but the levels' widths "
                f"are {widths}. Give every level the same last unit, or set self_gate=False."
            )
        self._groups = check_task_groups(task_groups, self.num_outputs)
        self.task_groups = None if task_groups is None else [list(g) for g in self._groups]

    # -- the hierarchy ------------------------------------------------------------------
    def _slices(self, k: int) -> list[tuple[int, int]]:
        """Task k's hierarchy as [start, stop) ranges of the level's experts (HoME §3.3)."""
        m_s, m_g, m_t = self.num_experts
        g = next(i for i, group in enumerate(self._groups) if k in group)
        task_start = m_s + len(self._groups) * m_g + k * m_t
        ranges = [(0, m_s), (m_s + g * m_g, m_s + (g + 1) * m_g), (task_start, task_start + m_t)]
        return [(a, b) for a, b in ranges if b > a]

    def _num_level_experts(self) -> int:
        m_s, m_g, m_t = self.num_experts
        return m_s + len(self._groups) * m_g + self.num_outputs * m_t

    def build_switcher(self, input_shape):
        e, d = self._num_level_experts(), int(input_shape[-1])
        per_task = sum(self.num_experts)
        self.feature_gates, self.levels, self.gates = [], [], []
        for j, units in enumerate(self.expert_units):
            if self.feature_gate_rank:
                gate = FeatureGate(e, self.feature_gate_rank, name=f"feature_gate_{j}")
                gate.build((None, e, d))
                self.feature_gates.append(gate)
            experts = NormalizedExperts(e, units, name=f"experts_{j}")
            experts.build((None, e, d))
            self.levels.append(experts)
            width = per_task + (1 if self.self_gate and j > 0 else 0)
            level_gates = [Gate(width, name=f"gate_{j}_{k}") for k in range(self.num_outputs)]
            for gate in level_gates:
                gate.build((None, d))
            self.gates.append(level_gates)
            d = units[-1]

    # -- the forward paths --------------------------------------------------------------
    def _expert_inputs(self, task_inputs):
        """One input per expert `[B, E, D]`: meta reads all tasks' mean, a group its tasks'."""
        m_s, m_g, m_t = self.num_experts
        per_expert = [_mean(task_inputs)] * m_s
        for group in self._groups:
            per_expert += [_mean([task_inputs[k] for k in group])] * m_g
        for x in task_inputs:
            per_expert += [x] * m_t
        return ops.stack(per_expert, axis=1)

    def _level(self, j: int, x, task_inputs):
        """Level j on one shared input `x` `[B, D]`, or on T task inputs (x is None)."""
        h = x if task_inputs is None else self._expert_inputs(task_inputs)
        if self.feature_gates:
            h = self.feature_gates[j](h)  # [B, E, D], HoME §3.4 feature-gate
        experts = self.levels[j](h)  # [B, E, H]
        outputs, weights = [], []
        for k, gate in enumerate(self.gates[j]):
            seen = x if task_inputs is None else task_inputs[k]
            parts = [experts[:, a:b] for a, b in self._slices(k)]
            if self.self_gate and j > 0:
                parts.append(ops.expand_dims(seen, 1))  # self-gate slot: y_k^{j-1}
            w = gate(seen)
            outputs.append(mix(w, ops.concatenate(parts, axis=1)))
            weights.append(w)
        return outputs, weights

    def _run(self, x, task_inputs):
        outputs, gates = self._level(0, x, task_inputs)
        for j in range(1, self.num_levels):
            outputs, level_gates = self._level(j, None, outputs)
            gates += level_gates
        return outputs, gates

    def forward(self, x):
        return self._run(x, None)

    def forward_views(self, views):
        return self._run(None, list(views))

    @property
    def gate_names(self) -> list[str]:
        tasks = [f"task_{k}" for k in range(self.num_outputs)]
        if self.num_levels == 1:
            return tasks
        return [f"level_{j}/{name}" for j in range(self.num_levels) for name in tasks]

    def get_config(self):
        return {
            **super().get_config(),
            "expert_units": self.expert_units,
            "task_groups": self.task_groups,
            "num_experts": self.num_experts,
            "num_levels": self.num_levels,
            "feature_gate_rank": self.feature_gate_rank,
            "self_gate": self.self_gate,
        }


def _mean(tensors):
    return ops.mean(ops.stack(tensors, axis=1), axis=1)


def check_task_groups(task_groups, num_tasks: int) -> list[list[int]]:
    """`task_groups` as a list of lists, each task in exactly one group (`None`: one group).

    Example:

    >>> check_task_groups([[0, 1], [2]], 3)
    [[0, 1], [2]]
    >>> check_task_groups([[0], [0, 1]], 2)
    Traceback (most recent call last):
    ...
    ValueError: HoME task_groups=[[0], [0, 1]] puts task 0 in two groups; give each task one group.
    """
    if task_groups is None:
        return [list(range(num_tasks))]
    where = f"HoME task_groups={task_groups!r}"
    if not isinstance(task_groups, (list, tuple)) or not all(
        isinstance(g, (list, tuple)) and g for g in task_groups
    ):
        raise ValueError(f"{where} must be a list of non-empty lists of task indices.")
    groups = [[int(k) for k in g] for g in task_groups]
    seen: set[int] = set()
    for k in (k for g in groups for k in g):
        if not 0 <= k < num_tasks:
            raise ValueError(f"{where} names task {k}, but tasks run 0..{num_tasks - 1}.")
        if k in seen:
            raise ValueError(f"{where} puts task {k} in two groups; give each task one group.")
        seen.add(k)
    missing = sorted(set(range(num_tasks)) - seen)
    if missing:
        raise ValueError(f"{where} leaves out tasks {missing}; put every task in one group.")
    return groups
