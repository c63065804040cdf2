"""Uncertainty weighting (Kendall, Gal & Cipolla, CVPR'18): each task learns its own noise level.

With a learnt `s_k = log σ_k²` per task, the total loss is (Kendall et al. eq 7 and 10):

- regression (Gaussian likelihood): `0.5 · exp(-s_k) · L_k + 0.5 · s_k`,
- binary (a Bernoulli whose logits are scaled by 1/σ², the paper's approximation):
  `exp(-s_k) · L_k + 0.5 · s_k`.

A task with noisy labels grows its s_k and so its weight `exp(-s_k)` (half that for
regression) falls; the `0.5 · s_k` term keeps s_k from growing without bound.

Differs from the paper: s_k starts at 0 (weights 1 and 0.5) rather than being tuned, and
the binary form keeps the model's probabilities (tfmtl heads output probabilities, not
logits), which is the approximation the paper itself uses for its classification loss.

Example:

>>> balancer = Uncertainty(["ctr", "watch"], kinds=["binary", "regression"])
>>> losses = [keras.ops.convert_to_tensor(0.7), keras.ops.convert_to_tensor(2.0)]
>>> round(float(balancer.combine(losses)), 4)   # 1 * 0.7 + 0.5 * 2.0 at s = 0
1.7
"""

from __future__ import annotations

import keras
from keras import ops

from tfmtl.balancing.base import LossBalancer


@keras.saving.register_keras_serializable(package="tfmtl")
class Uncertainty(LossBalancer):
    """Learnt per-task log-variances `s_k` weighting each loss by `exp(-s_k)` (Kendall et al.).

    Args:
        tasks: list of task names, in the model's task order.
        kinds: list of `"binary"` / `"regression"`, one per task.
        initial_log_variance: float. Starting `s_k` (0: σ² = 1).
    """

    strategy = "uncertainty"

    def __init__(self, tasks, kinds=None, initial_log_variance: float = 0.0, **kwargs):
        super().__init__(tasks, **kwargs)
        kinds = list(kinds or ["binary"] * len(self.tasks))
        if len(kinds) != len(self.tasks) or any(k not in ("binary", "regression") for k in kinds):
            raise ValueError(
                f"Uncertainty needs one kind ('binary' or 'regression') per task {self.tasks}. "
                f"Received: kinds={kinds!r}"
            )
        self.kinds, self.initial_log_variance = kinds, float(initial_log_variance)
        self.log_variance = self.add_weight(
            shape=(len(self.tasks),),
            name="log_variance",
            dtype="float32",
            initializer=keras.initializers.Constant(self.initial_log_variance),
        )
        self._scale = ops.convert_to_tensor(
            [1.0 if k == "binary" else 0.5 for k in self.kinds], "float32"
        )

    def combine(self, losses, training: bool = False):
        s = ops.cast(self.log_variance, "float32")
        stacked = ops.stack([ops.cast(loss, "float32") for loss in losses])
        return ops.sum(self._scale * ops.exp(-s) * stacked + 0.5 * s)

    def loss_weights(self) -> list:
        weights = self._scale * ops.exp(-ops.cast(self.log_variance, "float32"))
        return [weights[i] for i in range(len(self.tasks))]

    def get_config(self):
        return {
            **super().get_config(),
            "kinds": list(self.kinds),
            "initial_log_variance": self.initial_log_variance,
        }
