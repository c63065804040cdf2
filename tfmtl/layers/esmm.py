"""ESMM's entire-space product (Ma et al., SIGIR'18): pCTCVR = pCTR × pCVR."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfmtl")
class EntireSpaceProduct(keras.layers.Layer):
    """Probability of reaching the last step of a funnel: the product of the step probabilities.

    ESMM eq 1-2: `p(y=1, z=1 | x) = p(y=1 | x) · p(z=1 | y=1, x)`, i.e.
    `pCTCVR = pCTR × pCVR`. Both factors are trained through the product over the entire
    impression space (the CTCVR label is click AND conversion on every impression), so the
    CVR factor is never fitted on clicked samples alone. With more than two inputs it
    returns the product of all of them (a longer funnel).

    Args:
        name: str. The layer's name, as every Keras layer's (no arguments of its own).

    Returns:
        The product of the list of probabilities `[B]` (or `[B, 1]`), the funnel's steps in
        order: one tensor of the first's shape.

    Example:

    >>> p = tfmtl.layers.EntireSpaceProduct()([np.array([0.5, 0.1]), np.array([0.2, 0.4])])
    >>> np.round(np.asarray(p, "float64"), 3).tolist()
    [0.1, 0.04]
    """

    def build(self, input_shape):
        if (
            not isinstance(input_shape, (list, tuple))
            or len(input_shape) < 2
            or not isinstance(input_shape[0], (list, tuple))
        ):
            raise ValueError(
                f"EntireSpaceProduct '{self.name}' takes a list of >= 2 probabilities "
                "(pCTR, pCVR, ...). "
                f"Received input shape {input_shape}."
            )
        self.built = True

    def call(self, inputs):
        out = inputs[0]
        for p in inputs[1:]:
            out = ops.multiply(out, p)  # ESMM eq 2: pCTCVR = pCTR × pCVR
        return out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])
