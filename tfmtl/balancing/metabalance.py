"""MetaBalance (He et al., WWW'22): auxiliary gradients rescaled toward the target task's magnitude.

One task is the target, the others auxiliary. On the shared parameters, Algorithm 1 keeps a
moving average of every task's gradient norm,

    m_k <- β m_k + (1 − β) ||g_k||,

and scales each auxiliary gradient toward the target's magnitude, relaxed by r:

    g_k <- g_k · (r · m_target / m_k + (1 − r)),

then updates with `g_target + Σ_aux g_k`. r = 1 gives the auxiliaries the target's norm,
r = 0 leaves them as they are. Task-specific parameters (towers, heads) take each task's own
gradient unchanged.

Differs from the paper: the shared parameters are the gradient entries that at least two
tasks touch (`tfmtl.balancing.base.shared_entries`), found per step, and one norm per task is
taken over all of them, where the official implementation keeps one per parameter tensor.
The averages start at 0 as there, so at every step they carry the same `1 − β^t` bias and the
ratio `m_target / m_k` is unbiased; a task whose average is still 0 keeps scale 1.

Example:

>>> balancer = MetaBalance(["ctr", "cvr"], relax_factor=0.5)
>>> g = keras.ops.convert_to_tensor([[3.0, 4.0], [0.3, 0.4]])   # [K=2, D=2]: ||g|| = 5, 0.5
>>> update = balancer.combine_gradients([g], [1.0, 1.0])[0]   # cvr x (0.5 · 10 + 0.5)
>>> [round(float(w), 2) for w in balancer.loss_weights()]
[1.0, 5.5]
>>> np.round(keras.ops.convert_to_numpy(update), 2)
array([4.65, 6.2 ], dtype=float32)
"""

from __future__ import annotations

import keras
from keras import ops

from tfmtl.balancing.base import GradientBalancer, flat, shared_entries, unflat


@keras.saving.register_keras_serializable(package="tfmtl")
class MetaBalance(GradientBalancer):
    """The target task's gradient plus auxiliary gradients scaled toward its norm (Algorithm 1).

    Args:
        tasks: list of task names, in the model's task order.
        target: str or None. The task the others assist. Defaults to `None`: the first task.
        relax_factor: float in [0, 1]. The paper's r: how far auxiliary norms move to the
            target's. Defaults to `0.7`.
        beta: float in [0, 1). The moving average's β. Defaults to `0.9`.
    """

    strategy = "metabalance"

    def __init__(
        self,
        tasks,
        target: str | None = None,
        relax_factor: float = 0.7,
        beta: float = 0.9,
        **kwargs,
    ):
        super().__init__(tasks, **kwargs)
        target = self.tasks[0] if target is None else target
        if target not in self.tasks:
            raise ValueError(
                f"MetaBalance's target {target!r} is not one of the tasks {self.tasks}. "
                f"Received: target={target!r}"
            )
        if not isinstance(relax_factor, (int, float)) or not 0.0 <= relax_factor <= 1.0:
            raise ValueError(
                "MetaBalance's relax_factor must be in [0, 1]. "
                f"Received: relax_factor={relax_factor!r}"
            )
        if not isinstance(beta, (int, float)) or not 0.0 <= beta < 1.0:
            raise ValueError(f"MetaBalance's beta must be in [0, 1). Received: beta={beta!r}")
        self.target, self.relax_factor, self.beta = target, float(relax_factor), float(beta)
        self._target_index = self.tasks.index(target)
        self.moving_norms = self.add_weight(
            shape=(len(self.tasks),),
            name="moving_norms",
            dtype="float32",
            initializer="zeros",
            trainable=False,
        )

    def _scales(self):
        m = ops.convert_to_tensor(self.moving_norms)
        scales = self.relax_factor * ops.divide_no_nan(m[self._target_index], m) + (
            1.0 - self.relax_factor
        )
        scales = ops.where(m > 0.0, scales, 1.0)
        is_target = ops.equal(ops.arange(len(self.tasks)), self._target_index)
        return ops.where(is_target, 1.0, scales)  # [K]

    def loss_weights(self) -> list:
        scales = self._scales()
        return [scales[k] for k in range(len(self.tasks))]

    def combine_gradients(self, task_gradients: list, losses) -> list:
        g = ops.cast(flat(task_gradients), "float32")  # [K, D]
        shared = shared_entries(g)[None, :]  # [1, D]
        norms = ops.sqrt(ops.sum(ops.square(ops.where(shared, g, 0.0)), axis=1))  # [K]
        self.moving_norms.assign(
            self.beta * ops.convert_to_tensor(self.moving_norms) + (1.0 - self.beta) * norms
        )
        scales = ops.where(
            shared, self._scales()[:, None], 1.0
        )  # [K, D]: task-specific parts keep 1
        return unflat(ops.sum(scales * g, axis=0), task_gradients)

    def get_config(self):
        return {
            **super().get_config(),
            "target": self.target,
            "relax_factor": self.relax_factor,
            "beta": self.beta,
        }
