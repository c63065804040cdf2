"""AdaTT: Adaptive Task-to-Task Fusion Network (Li et al., KDD'23), AdaTT-sp and general AdaTT."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfmtl.layers.experts import ExpertBank, Gate
from tfmtl.layers.mmoe import per_level_units
from tfmtl.layers.sparse_gates import gate_options
from tfmtl.layers.switcher import Switcher


@keras.saving.register_keras_serializable(package="tfmtl")
class AdaTT(Switcher):
    """AdaTT: per-task fusion units, a native linear fusion plus a gate over all experts.

    At fusion level l, task t builds m_t native experts from its own previous output,
    `E^l_{t,i} = e^l_{t,i}(f^{l-1}_t(x))` (AdaTT eq 4), with `f^0_t(x) = x` (eq 2). Its
    fusion unit then adds the *AllExpertGF* gate over every expert of the level to the
    *NativeExpertLF* linear combination of its own experts (eq 7):

    - `NativeExpertLF^l_t(E^l_t) = v^l_t^T E^l_t` (eq 8), v learnt; with one native expert
      v is the fixed unit weight;
    - `AllExpertGF^l_t(E^l, G^l_t) = G^l_t^T E^l` (eq 9), `G^l_t = softmax(W^l_t f^{l-1}_t(x))`
      (eq 10);
    - computed in one product as `f^l_t(x) = (pad(v^l_t^T) + G^l_t^T) E^l` (eq 11).

    With `num_shared_experts > 0` this is general AdaTT (§3.2): a shared fusion unit adds
    shared experts to every level's `E^l` and, below the last level, fuses all of the
    level's experts with its own gate to feed the next level's shared experts; at the last
    level it only supplies experts. With `num_shared_experts=0` it is AdaTT-sp (§3.1).
    `native_fusion=False` ablates NativeExpertLF (paper Table 6): `f^l_t = G^l_t^T E^l`.

    Each level's experts are two `ExpertBank`s (task experts, shared experts): one batched
    kernel per group.

    Args:
        num_outputs: int. Number of tasks T.
        num_task_experts: int, or list of T ints. Native experts per task (m_t).
        expert_units: list of int, or one list per level. Hidden sizes of every expert
            (the paper's experts are single-layer: `[[128], [64]]`).
        num_levels: int. Fusion levels L. Defaults to 2.
        num_shared_experts: int. Shared experts per level (m_s); 0 gives AdaTT-sp.
            Defaults to 0.
        native_fusion: bool. Keep the NativeExpertLF residual (eq 7-8). Defaults to `True`.
        gate: str or dict. Every AllExpertGF gate's kind (eq 10's softmax by default),
            `"softmax"`, `"topk"` or `"dselect"`, or a dict of `Gate` options
            (`{"kind": "topk", "k": 1}`). Defaults to `"softmax"`.

    Call arguments:
        inputs: tensor `[B, D]` (every `f^0_t = x`), or a list of T task views `[B, D]`,
            optionally followed by a shared view (the mean of the task views when absent).
        return_gates: bool. Also return every AllExpertGF gate `[B, sum m_t + m_s]`
            (named by `gate_names`), for the expert-utilisation plot (§4.5; add
            `native_weight_matrix(l)` to the mean gates for the paper's Fig. 3).
            Defaults to `False`.

    Returns:
        A list of T tensors `[B, H]`, H the last level's expert width; with
        `return_gates=True`, the pair `(outputs, gates)`.

    Example:

    >>> layer = tfmtl.layers.AdaTT(num_outputs=3, num_task_experts=2, expert_units=[[8], [4]])
    >>> [tuple(o.shape) for o in layer(np.ones((5, 16), "float32"))]
    [(5, 4), (5, 4), (5, 4)]
    """

    def __init__(
        self,
        num_outputs: int,
        num_task_experts,
        expert_units,
        num_levels: int = 2,
        num_shared_experts: int = 0,
        native_fusion: bool = True,
        gate="softmax",
        **kwargs,
    ):
        super().__init__(num_outputs, **kwargs)
        if int(num_levels) < 1:
            raise ValueError(f"AdaTT needs num_levels >= 1. Received: num_levels={num_levels}")
        counts = (
            list(num_task_experts)
            if isinstance(num_task_experts, (list, tuple))
            else [num_task_experts] * self.num_outputs
        )
        if len(counts) != self.num_outputs or any(int(c) < 1 for c in counts):
            raise ValueError(
                "AdaTT needs num_task_experts as one int >= 1 or a list of num_outputs "
                f"({self.num_outputs}) ints >= 1. Received: num_task_experts={num_task_experts}"
            )
        if int(num_shared_experts) < 0:
            raise ValueError(
                "AdaTT needs num_shared_experts >= 0. Received: "
                f"num_shared_experts={num_shared_experts}"
            )
        self.num_task_experts = (
            int(num_task_experts)
            if not isinstance(num_task_experts, (list, tuple))
            else [int(c) for c in counts]
        )
        self._counts = [int(c) for c in counts]
        self.num_levels, self.num_shared_experts = int(num_levels), int(num_shared_experts)
        self.expert_units = per_level_units(expert_units, self.num_levels, "AdaTT")
        self.native_fusion = bool(native_fusion)
        self._gate_options = gate_options(gate)
        self.gate = dict(gate) if isinstance(gate, dict) else self._gate_options["kind"]
        t, m_s = self.num_outputs, self.num_shared_experts
        self._num_task_total = sum(self._counts)
        self._num_total = self._num_task_total + m_s
        # owner[e] = task of task expert e: the gather feeding expert e its task's view (eq 4).
        self._owner = np.repeat(np.arange(t), self._counts).astype("int32")
        # P[t, e] = 1 when expert e is native to task t: pad() in eq 11.
        self._native_mask = np.zeros((t, self._num_total), "float32")
        self._native_mask[self._owner, np.arange(self._num_task_total)] = 1.0
        self._learnt = np.asarray(
            [1.0 if self._counts[k] > 1 else 0.0 for k in self._owner], "float32"
        )

    def accepted_view_counts(self):
        return (self.num_outputs, self.num_outputs + 1)

    # -- weights ---------------------------------------------------------------------------
    def build_switcher(self, input_shape):
        t, m_s = self.num_outputs, self.num_shared_experts
        d = int(input_shape[-1])
        (
            self.task_experts,
            self.shared_experts,
            self.task_gates,
            self.shared_gates,
            self.native_weights,
        ) = [], [], [], [], []
        for j, units in enumerate(self.expert_units):
            bank = ExpertBank(self._num_task_total, units, name=f"task_experts_{j}")
            bank.build((None, d) if j == 0 else (None, self._num_task_total, d))
            self.task_experts.append(bank)
            if m_s:
                shared = ExpertBank(m_s, units, name=f"shared_experts_{j}")
                shared.build((None, d))
                self.shared_experts.append(shared)
            gates = [
                Gate(self._num_total, **self._gate_options, name=f"gate_{j}_{k}") for k in range(t)
            ]
            for g in gates:
                g.build((None, d))
            self.task_gates.append(gates)
            if m_s and j < self.num_levels - 1:
                g = Gate(self._num_total, **self._gate_options, name=f"shared_gate_{j}")
                g.build((None, d))
                self.shared_gates.append(g)
            if self.native_fusion:
                # v^l_t of eq 8, one entry per task expert; unit weights where m_t = 1.
                self.native_weights.append(
                    self.add_weight(
                        name=f"native_weights_{j}",
                        shape=(self._num_task_total,),
                        initializer=keras.initializers.Constant(
                            1.0 / np.asarray([self._counts[k] for k in self._owner], "float32")
                        ),
                    )
                )
            d = units[-1]

    # -- forward ---------------------------------------------------------------------------
    def native_matrix(self, level: int):
        """`pad(v^l_t^T)` of eq 11 for every task: `[T, sum m_t + m_s]` (a backend tensor)."""
        v = self.native_weights[level]
        v = v * self._learnt + (1.0 - self._learnt)  # eq 8: a single native expert keeps weight 1
        if self.num_shared_experts:
            v = ops.concatenate([v, ops.zeros((self.num_shared_experts,), v.dtype)], axis=0)
        return ops.multiply(ops.convert_to_tensor(self._native_mask), v[None, :])

    def native_weight_matrix(self, level: int) -> np.ndarray:
        """`pad(v^l_t^T)` as numpy: add it to the mean gates for AdaTT Fig. 3's weights."""
        if not self.native_fusion:
            return np.zeros((self.num_outputs, self._num_total), "float32")
        return np.asarray(ops.convert_to_numpy(self.native_matrix(level)))

    def _level(self, j, task_views, shared_view, tensor_input):
        if tensor_input:
            task_e = self.task_experts[j](task_views[0])
        else:  # eq 4: task t's experts read f^{l-1}_t only
            task_e = self.task_experts[j](
                ops.take(ops.stack(task_views, axis=1), self._owner, axis=1)
            )
        experts = task_e
        if self.num_shared_experts:
            experts = ops.concatenate(
                [task_e, self.shared_experts[j](shared_view)], axis=1
            )  # eq 6 + shared
        gates = [gate(v) for gate, v in zip(self.task_gates[j], task_views)]  # eq 10
        weights = ops.stack(gates, axis=1)  # [B, T, E]
        if self.native_fusion:
            weights = weights + self.native_matrix(j)[None]  # eq 11: pad(v) + G
        fused = ops.einsum("bte,beu->btu", weights, experts)  # eq 7, 9, 11
        outputs = [fused[:, k] for k in range(self.num_outputs)]
        shared_out = None
        if self.num_shared_experts and j < self.num_levels - 1:
            w_s = self.shared_gates[j](shared_view)
            shared_out = ops.einsum("be,beu->bu", w_s, experts)
            gates.append(w_s)
        return outputs, shared_out, gates

    def _run(self, task_views, shared_view, tensor_input):
        all_gates = []
        for j in range(self.num_levels):
            task_views, shared_view, gates = self._level(
                j, task_views, shared_view, tensor_input and j == 0
            )
            all_gates.extend(gates)
        return task_views, all_gates

    def forward(self, x):
        return self._run([x] * self.num_outputs, x, True)

    def forward_views(self, views):
        task_views = list(views[: self.num_outputs])
        shared = (
            views[-1] if len(views) > self.num_outputs else ops.mean(ops.stack(task_views, 0), 0)
        )
        return self._run(task_views, shared, False)

    @property
    def gate_names(self):
        names = []
        for j in range(self.num_levels):
            names += [f"level_{j}/task_{k}" for k in range(self.num_outputs)]
            if self.num_shared_experts and j < self.num_levels - 1:
                names.append(f"level_{j}/shared")
        return names

    def get_config(self):
        return {
            **super().get_config(),
            "num_task_experts": self.num_task_experts,
            "expert_units": self.expert_units,
            "num_levels": self.num_levels,
            "num_shared_experts": self.num_shared_experts,
            "native_fusion": self.native_fusion,
            "gate": dict(self.gate) if isinstance(self.gate, dict) else self.gate,
        }


@keras.saving.register_keras_serializable(package="tfmtl")
class AdaTTSp(AdaTT):
    """AdaTT-sp (AdaTT §3.1): task-specific fusion units only, no shared experts.

    `AdaTT` with `num_shared_experts=0`; every expert is some task's native expert, and
    task-to-task sharing happens only through each unit's AllExpertGF gate (eq 7-11).

    Args:
        num_outputs: int. Number of tasks T.
        num_task_experts: int, or list of T ints. Native experts per task (m_t).
        expert_units: list of int, or one list per level. Hidden sizes of every expert.
        num_levels: int. Fusion levels L. Defaults to 2.
        gate: str or dict. Every AllExpertGF gate's kind (eq 10's softmax by default),
            `"softmax"`, `"topk"` or `"dselect"`, or a dict of `Gate` options
            (`{"kind": "topk", "k": 1}`). Defaults to `"softmax"`.

    Call arguments:
        inputs: tensor `[B, D]`, or a list of T task views `[B, D]`.
        return_gates: bool. Also return every AllExpertGF gate `[B, sum m_t]`, named by
            `gate_names`. Defaults to `False`.

    Returns:
        A list of T tensors `[B, H]`, H the last level's expert width; with
        `return_gates=True`, the pair `(outputs, gates)`.

    Example:

    >>> layer = tfmtl.layers.AdaTTSp(num_outputs=2, num_task_experts=1, expert_units=[8])
    >>> len(layer(np.ones((5, 16), "float32")))
    2
    """

    def __init__(
        self,
        num_outputs: int,
        num_task_experts,
        expert_units,
        num_levels: int = 2,
        gate="softmax",
        **kwargs,
    ):
        shared = kwargs.pop("num_shared_experts", 0)
        if shared:
            raise ValueError(
                f"AdaTTSp has no shared experts. Received: num_shared_experts={shared}; use AdaTT "
                "for general AdaTT."
            )
        super().__init__(
            num_outputs, num_task_experts, expert_units, num_levels=num_levels, gate=gate, **kwargs
        )

    def get_config(self):
        config = super().get_config()
        config.pop("num_shared_experts")
        return config
