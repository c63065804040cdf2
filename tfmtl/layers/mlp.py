"""MLP: a stack of Dense layers, the building block of bottoms, experts' callers and towers."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="tfmtl")
class MLP(keras.layers.Layer):
    """A stack of `Dense -> activation -> dropout` layers.

    Args:
        units: list of int. Width of each layer; `[]` makes the layer the identity.
        activation: str. Activation after every layer. Defaults to `"relu"`.
        dropout: float. Dropout rate after every layer. Defaults to `0.0`.
        output_activation: bool. Apply the activation after the last layer too.
            Defaults to `True`.

    Call arguments:
        x: tensor `[B, D]`.
        training: bool. Dropout on or off.

    Returns:
        One tensor `[B, units[-1]]` (`[B, D]` when `units` is `[]`).

    Example:

    >>> x = np.ones((4, 16), "float32")
    >>> tuple(tfmtl.layers.MLP([8, 4])(x).shape)
    (4, 4)
    """

    def __init__(
        self,
        units: list[int],
        activation: str = "relu",
        dropout: float = 0.0,
        output_activation: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        units = [int(u) for u in units]
        if any(u < 1 for u in units):
            raise ValueError(f"MLP units must be positive. Received: units={units}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MLP dropout must be in [0, 1). Received: dropout={dropout}")
        self.units, self.activation = units, activation
        self.dropout, self.output_activation = dropout, output_activation
        last = len(units) - 1
        self.dense_layers = [
            keras.layers.Dense(
                u, activation=activation if (i < last or output_activation) else None
            )
            for i, u in enumerate(units)
        ]
        self.dropout_layers = [keras.layers.Dropout(dropout) for _ in units] if dropout else []

    def build(self, input_shape):
        shape = tuple(input_shape)
        for dense in self.dense_layers:
            dense.build(shape)
            shape = shape[:-1] + (dense.units,)
        self.built = True

    def call(self, x, training=None):
        for i, dense in enumerate(self.dense_layers):
            x = dense(x)
            if self.dropout_layers:
                x = self.dropout_layers[i](x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + ((self.units[-1],) if self.units else (input_shape[-1],))

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "dropout": self.dropout,
            "output_activation": self.output_activation,
        }
