"""Dynamic weight averaging (Liu, Johns & Davison, CVPR'19): weight tasks by how slowly they learn.

Each epoch t, task k's loss is weighted by (Liu et al. eq 1)

    w_k(t) = K · exp(r_k(t-1) / T) / Σ_i exp(r_i(t-1) / T),    r_k(t-1) = L_k(t-1) / L_k(t-2),

where `L_k(t)` is task k's mean training loss over epoch t and T a temperature: a task whose
loss fell least over the last epoch (the largest ratio r_k) gets the most weight, and the
weights sum to K. `w_k(0) = w_k(1) = 1`. The total is `Σ_k w_k(t) · L_k`.

The weights and the last two epochs' losses are non-trainable variables: the compiled train
step reads the weights without a retrace, `end_epoch` updates them from the epoch logs on the
host, and a run resumed by `keras.callbacks.BackupAndRestore` (or a reloaded `.keras` file)
carries on from the epochs it has seen.
"""

from __future__ import annotations

import numbers

import keras
import numpy as np
from keras import ops

from tfmtl.balancing.base import LossBalancer


@keras.saving.register_keras_serializable(package="tfmtl")
class DynamicWeightAverage(LossBalancer):
    """Per-epoch task weights `K · softmax(r(t-1) / T)` from the loss ratios (Liu et al. eq 1).

    `end_epoch` reads each task's epoch-mean training loss `logs["<task>_loss"]` (tracked by
    `LossBalancer.track`), keeps the last two, and from the second epoch on sets the weights
    the next epoch trains with; `combine` returns `Σ_k w_k L_k`.

    Differs from the paper: `L_k` is the loss the model trains on, `ω_k(t) · masked mean` (PLE
    eq 9, 10), so a task with a `decay` γ_k ≠ 1 has its ratio scaled by γ_k. A task whose
    loss was 0 two epochs ago (no in-space rows) gets the ratio 1 rather than a division by
    zero. The epoch count is the balancer's own (epochs it has seen in `end_epoch`), so a
    second `fit` on the same model continues the schedule rather than restarting at weight 1.

    Args:
        tasks: list of task names, in the model's task order.
        temperature: float. T of eq 1, > 0; larger T flattens the weights towards 1.
            Defaults to `2.0` (the paper's setting).

    Example:

    >>> balancer = DynamicWeightAverage(["ctr", "cvr"], temperature=2.0)
    >>> balancer.end_epoch(0, {"ctr_loss": 1.0, "cvr_loss": 1.0})
    >>> balancer.end_epoch(1, {"ctr_loss": 0.5, "cvr_loss": 0.9})   # cvr learnt more slowly
    >>> [round(float(w), 4) for w in balancer.loss_weights()]       # 2 · softmax([0.5, 0.9] / 2)
    [0.9003, 1.0997]
    >>> losses = [keras.ops.convert_to_tensor(0.4), keras.ops.convert_to_tensor(0.8)]
    >>> round(float(balancer.combine(losses)), 4)
    1.2399
    """

    strategy = "dwa"

    def __init__(self, tasks, temperature: float = 2.0, **kwargs):
        super().__init__(tasks, **kwargs)
        positive = isinstance(temperature, numbers.Real) and not isinstance(temperature, bool)
        if not (positive and temperature > 0):
            raise ValueError(
                "DynamicWeightAverage needs a temperature T > 0 (Liu et al. eq 1 divides the loss "
                f"ratios by T). Received: temperature={temperature!r}. The paper uses 2.0."
            )
        self.temperature = float(temperature)
        num_tasks = len(self.tasks)
        self.task_weights = self.add_weight(
            shape=(num_tasks,),
            name="task_weights",
            dtype="float32",
            trainable=False,
            initializer="ones",
        )
        # Row 0: L_k(t-2), row 1: L_k(t-1), the epoch-mean losses eq 1's ratios need.
        self.previous_losses = self.add_weight(
            shape=(2, num_tasks),
            name="previous_losses",
            dtype="float32",
            trainable=False,
            initializer="zeros",
        )
        self.epochs_seen = self.add_weight(
            shape=(), name="epochs_seen", dtype="float32", trainable=False, initializer="zeros"
        )

    def combine(self, losses, training: bool = False):
        stacked = ops.stack([ops.cast(loss, "float32") for loss in losses])
        return ops.sum(ops.cast(self.task_weights, "float32") * stacked)

    def loss_weights(self) -> list:
        weights = ops.cast(self.task_weights, "float32")
        return [weights[i] for i in range(len(self.tasks))]

    def end_epoch(self, epoch: int, logs: dict) -> None:
        """Record the epoch's task losses and set eq 1's weights for the next epoch."""
        keys = [f"{task}_loss" for task in self.tasks]
        missing = [k for k in keys if k not in logs]
        if missing:
            raise ValueError(
                f"DynamicWeightAverage needs each task's epoch loss in the logs, but epoch "
                f"{epoch}'s logs lack {missing} (they have {sorted(logs)}). Train a MultiTaskModel "
                "compiled by tfmtl.training.compile_multitask(..., loss_balancing='dwa'), which "
                "tracks them."
            )
        current = np.array([float(logs[k]) for k in keys], dtype=np.float64)
        last = np.asarray(ops.convert_to_numpy(self.previous_losses), dtype=np.float64)[1]
        seen = int(round(float(ops.convert_to_numpy(self.epochs_seen)))) + 1
        self.previous_losses.assign(np.stack([last, current]).astype("float32"))
        self.epochs_seen.assign(float(seen))
        if seen >= 2:
            self.task_weights.assign(dwa_weights(last, current, self.temperature).astype("float32"))

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


def dwa_weights(before, after, temperature: float) -> np.ndarray:
    """Liu et al. eq 1 on the host: `K · softmax((after / before) / T)`, ratio 1 where before is 0.

    Args:
        before: K epoch-mean losses `L_k(t-2)`.
        after: K epoch-mean losses `L_k(t-1)`.
        temperature: float. T of eq 1.
    """
    before, after = np.asarray(before, np.float64), np.asarray(after, np.float64)
    ratio = np.divide(after, before, out=np.ones_like(after), where=before != 0)
    z = ratio / temperature
    z = np.exp(z - z.max())
    return len(z) * z / z.sum()
