"""Customized sharing (PLE §3, Fig. 1c): a shared bottom next to task-specific bottoms."""

from __future__ import annotations

import keras
from keras import ops

from tfmtl.layers.experts import ExpertBank
from tfmtl.layers.mlp import MLP
from tfmtl.layers.switcher import Switcher


@keras.saving.register_keras_serializable(package="tfmtl")
class CustomizedSharing(Switcher):
    """Customized sharing: shared and task-specific parameters explicitly separated.

    Next to the single-task model's per-task bottoms `h_t = f_t(x)` a shared bottom
    `s = f_s(x)` extracts what the tasks share; task t's tower reads their concatenation
    `y_t = [s, h_t]` (PLE §3, "customized sharing"). The task bottoms are one `ExpertBank`.

    Args:
        num_outputs: int. Number of tasks.
        shared_units: list of int. Hidden sizes of the shared bottom.
        task_units: list of int. Hidden sizes of each task's bottom.

    Call arguments:
        inputs: tensor `[B, D]`, or a list of `num_outputs` task views `[B, D]`, optionally
            followed by a shared view (the mean of the task views when none is given).
        return_gates: bool. Also return the gates: there are none. Defaults to `False`.

    Returns:
        A list of `num_outputs` tensors `[B, shared_units[-1] + task_units[-1]]`; with
        `return_gates=True`, the pair `(outputs, [])`.

    Example:

    >>> layer = tfmtl.layers.CustomizedSharing(num_outputs=2, shared_units=[8], task_units=[4])
    >>> [tuple(o.shape) for o in layer(np.ones((3, 16), "float32"))]
    [(3, 12), (3, 12)]
    """

    def __init__(self, num_outputs: int, shared_units: list[int], task_units: list[int], **kwargs):
        super().__init__(num_outputs, **kwargs)
        self.shared_units, self.task_units = (
            [int(u) for u in shared_units],
            [int(u) for u in task_units],
        )
        if not self.shared_units or not self.task_units:
            raise ValueError(
                "CustomizedSharing needs non-empty shared_units and task_units. Received: "
                f"shared_units={self.shared_units}, task_units={self.task_units}"
            )

    def accepted_view_counts(self):
        return (self.num_outputs, self.num_outputs + 1)

    def build_switcher(self, input_shape):
        self.shared = MLP(self.shared_units, name="shared_bottom")
        self.shared.build(input_shape)
        self.bottoms = ExpertBank(self.num_outputs, self.task_units, name="task_bottoms")
        self.bottoms.build(input_shape)

    def _join(self, s, h):
        return [ops.concatenate([s, h[:, t]], axis=-1) for t in range(self.num_outputs)], []

    def forward(self, x):
        return self._join(self.shared(x), self.bottoms(x))

    def forward_views(self, views):
        task_views = views[: self.num_outputs]
        shared_view = (
            views[-1] if len(views) > self.num_outputs else ops.mean(ops.stack(task_views, 0), 0)
        )
        return self._join(self.shared(shared_view), self.bottoms(ops.stack(task_views, axis=1)))

    def get_config(self):
        return {
            **super().get_config(),
            "shared_units": self.shared_units,
            "task_units": self.task_units,
        }
