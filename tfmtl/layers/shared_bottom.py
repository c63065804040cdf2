"""SingleTask (no sharing) and SharedBottom (hard parameter sharing) switchers."""

from __future__ import annotations

import keras
from keras import ops

from tfmtl.layers.experts import ExpertBank
from tfmtl.layers.mlp import MLP
from tfmtl.layers.switcher import Switcher


@keras.saving.register_keras_serializable(package="tfmtl")
class SingleTask(Switcher):
    """No sharing: every output has its own bottom MLP (the single-task baseline).

    `y_k = f_k(x)`. The `num_outputs` bottoms are one `ExpertBank`, one kernel per layer.

    Args:
        num_outputs: int. Number of tasks.
        units: list of int. Hidden sizes of each task's bottom.

    Call arguments:
        inputs: tensor `[B, D]`, or a list of `num_outputs` views `[B, D]`.
        return_gates: bool. Also return the gate weights, named by `gate_names`.
            Defaults to `False`.

    Returns:
        A list of `num_outputs` tensors `[B, units[-1]]`; with `return_gates=True`, the
        pair `(outputs, [])`.

    Example:

    >>> outs = tfmtl.layers.SingleTask(num_outputs=2, units=[8])(np.ones((4, 16), "float32"))
    >>> [tuple(o.shape) for o in outs]
    [(4, 8), (4, 8)]
    """

    def __init__(self, num_outputs: int, units: list[int], **kwargs):
        super().__init__(num_outputs, **kwargs)
        self.units = [int(u) for u in units]

    def build_switcher(self, input_shape):
        self.bottoms = ExpertBank(self.num_outputs, self.units, name="bottoms")
        self.bottoms.build(input_shape)

    def forward(self, x):
        h = self.bottoms(x)
        return [h[:, k] for k in range(self.num_outputs)], []

    def forward_views(self, views):
        h = self.bottoms(ops.stack(views, axis=1))  # view k feeds bottom k only
        return [h[:, k] for k in range(self.num_outputs)], []

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="tfmtl")
class SharedBottom(Switcher):
    """Hard parameter sharing: one bottom MLP whose output every task reads.

    `y_k = f(x)` for every k (Caruana, 1997).

    Args:
        num_outputs: int. Number of tasks.
        units: list of int. Hidden sizes of the shared bottom.

    Call arguments:
        inputs: tensor `[B, D]`, or a list of `num_outputs` views `[B, D]`.
        return_gates: bool. Also return the gate weights, named by `gate_names`.
            Defaults to `False`.

    Returns:
        A list of `num_outputs` tensors `[B, units[-1]]`, all equal for a tensor input;
        with `return_gates=True`, the pair `(outputs, [])`.

    Example:

    >>> outs = tfmtl.layers.SharedBottom(num_outputs=2, units=[8])(np.ones((4, 16), "float32"))
    >>> len(outs)
    2
    """

    def __init__(self, num_outputs: int, units: list[int], **kwargs):
        super().__init__(num_outputs, **kwargs)
        self.units = [int(u) for u in units]

    def build_switcher(self, input_shape):
        self.bottom = MLP(self.units, name="bottom")
        self.bottom.build(input_shape)

    def forward(self, x):
        h = self.bottom(x)
        return [h] * self.num_outputs, []

    def forward_views(self, views):
        return [self.bottom(v) for v in views], []

    def get_config(self):
        return {**super().get_config(), "units": self.units}
