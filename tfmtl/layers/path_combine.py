"""PathCombine: MFH's learnt linear combination of the paths that reach a node (MFH eq 5)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="tfmtl")
class PathCombine(keras.layers.Layer):
    """Learnt linear combination of the hidden outputs of every path reaching a tower or node.

    MFH eq 5 feeds `Tower_{New&Skip}` with
    `Switcher_Skip^{New&Skip}(...) + Switcher_New^{New&Skip}(...)`, where "+" is "a linear
    combination" (MFH §4.1.3); with N facets a leaf combines the N paths through its
    (N-1)-partition codes (MFH §4.2):

    `h = sum_p alpha_p * h_p`, one trainable scalar `alpha_p` per path.

    Args:
        num_paths: int. Number of paths combined (inputs of the layer).
        initial: str. `"mean"` starts every `alpha_p` at `1 / num_paths`, `"sum"` at 1.
            Defaults to `"mean"`.

    Call arguments:
        inputs: list of `num_paths` tensors `[B, D]`, all of one width.

    Returns:
        One tensor `[B, D]`.

    Example:

    >>> paths = [np.ones((3, 4), "float32"), 3 * np.ones((3, 4), "float32")]
    >>> h = tfmtl.layers.PathCombine(2)(paths)
    >>> float(h[0, 0])
    2.0
    """

    def __init__(self, num_paths: int, initial: str = "mean", **kwargs):
        super().__init__(**kwargs)
        if int(num_paths) < 1:
            raise ValueError(f"PathCombine needs num_paths >= 1. Received: num_paths={num_paths}")
        if initial not in ("mean", "sum"):
            raise ValueError(
                f"PathCombine initial must be 'mean' or 'sum'. Received: initial={initial!r}"
            )
        self.num_paths, self.initial = int(num_paths), initial

    def build(self, input_shape):
        shapes = (
            list(input_shape)
            if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple))
            else None
        )
        if shapes is None or len(shapes) != self.num_paths:
            got = len(shapes) if shapes is not None else "one tensor"
            raise ValueError(
                f"PathCombine '{self.name}' takes a list of {self.num_paths} paths. Received: {got}"
            )
        widths = [int(s[-1]) for s in shapes]
        if len(set(widths)) != 1:
            raise ValueError(
                f"PathCombine '{self.name}' needs paths of one width to add them. Received widths "
                f"{widths}; "
                "give the switchers feeding it the same output size."
            )
        value = 1.0 / self.num_paths if self.initial == "mean" else 1.0
        self.alpha = self.add_weight(
            name="alpha", shape=(self.num_paths,), initializer=keras.initializers.Constant(value)
        )

    def call(self, inputs):
        # MFH eq 5's "+": sum over paths of alpha_p * h_p (a plain sum: einsum's gradient is
        # slow on CPU)
        out = self.alpha[0] * inputs[0]
        for p in range(1, self.num_paths):
            out = out + self.alpha[p] * inputs[p]
        return out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "num_paths": self.num_paths, "initial": self.initial}
