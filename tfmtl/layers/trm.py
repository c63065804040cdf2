"""TRM: the Task-specific Representation Refinement module of DTRN (CIKM'23 §3.4)."""

from __future__ import annotations

import keras
from keras import ops

from tfmtl.layers.experts import ExpertBank


@keras.saving.register_keras_serializable(package="tfmtl")
class TRM(keras.layers.Layer):
    """Per task, an SENet-like network re-weights the raw bottom representation element-wise.

    DTRN eq 9: `r_i = raw_i ⊙ refine_i`, `refine_i = MLP_i(raw_i)`, a two-layer MLP with a
    ReLU hidden layer and a sigmoid output as wide as `raw_i`. The T refinement networks
    are two `ExpertBank`s (one kernel per layer for all tasks).

    Args:
        num_tasks: int. T, one refinement network per task.
        units: int. Hidden width of every refinement network. Defaults to 64.

    Call arguments:
        raw: tensor `[B, D]` (a task-shared raw representation, refined T ways) or a list
            of T tensors `[B, D]` (`raw_i` per task, e.g. with TIM's task-specific interests).

    Returns:
        A list of T tensors `[B, D]`: the task-specific bottom representations.

    Example:

    >>> outs = tfmtl.layers.TRM(num_tasks=2, units=4)(np.ones((3, 6), "float32"))
    >>> [tuple(o.shape) for o in outs]
    [(3, 6), (3, 6)]

    Reference: Liu et al., "Deep Task-specific Bottom Representation Network for Multi-Task
    Recommendation", CIKM'23, §3.4.
    """

    def __init__(self, num_tasks: int, units: int = 64, **kwargs):
        super().__init__(**kwargs)
        for arg, value in (("num_tasks", num_tasks), ("units", units)):
            if int(value) < 1:
                raise ValueError(f"TRM needs `{arg}` >= 1. Received: `{arg}={value}`")
        self.num_tasks, self.units = int(num_tasks), int(units)

    def _width(self, input_shape):
        if (
            isinstance(input_shape, (list, tuple))
            and input_shape
            and isinstance(input_shape[0], (list, tuple))
        ):
            if len(input_shape) != self.num_tasks:
                raise ValueError(
                    f"TRM '{self.name}' has num_tasks={self.num_tasks} but received a list of "
                    f"{len(input_shape)} representations."
                )
            widths = [int(s[-1]) for s in input_shape]
            if len(set(widths)) != 1:
                raise ValueError(
                    f"TRM '{self.name}' needs representations of one width. Received widths "
                    f"{widths}."
                )
            return widths[0]
        return int(input_shape[-1])

    def build(self, input_shape):
        width = self._width(input_shape)
        self.hidden = ExpertBank(self.num_tasks, [self.units], activation="relu", name="hidden")
        self.refine = ExpertBank(self.num_tasks, [width], activation="sigmoid", name="refine")
        self.hidden.build((None, width))
        self.refine.build((None, self.num_tasks, self.units))
        self.built = True

    def refinement(self, raw):
        """`[B, T, D]` refinement vectors `refine_i = MLP_i(raw_i)` for `[B, D]` or list input."""
        return self.refine(self.hidden(self._stack(raw)))

    def call(self, raw):
        stacked = self._stack(raw)
        refined = stacked * self.refine(self.hidden(stacked))  # DTRN eq 9: r_i = raw_i ⊙ refine_i
        return [refined[:, i] for i in range(self.num_tasks)]

    def _stack(self, raw):
        if isinstance(raw, (list, tuple)):
            return ops.stack(list(raw), axis=1)  # raw_i feeds refinement network i only
        return ops.repeat(ops.expand_dims(raw, 1), self.num_tasks, axis=1)

    def compute_output_shape(self, input_shape):
        shape = input_shape[0] if isinstance(input_shape[0], (list, tuple)) else input_shape
        return [tuple(shape)] * self.num_tasks

    def get_config(self):
        return {**super().get_config(), "num_tasks": self.num_tasks, "units": self.units}
