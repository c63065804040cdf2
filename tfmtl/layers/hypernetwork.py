"""HyperNetwork: condition embeddings in, generated parameters out (DTRN §3.3.1)."""

from __future__ import annotations

import keras

from tfmtl.layers.experts import ExpertBank


@keras.saving.register_keras_serializable(package="tfmtl")
class HyperNetwork(keras.layers.Layer):
    """`num_generators` two-layer MLPs that turn a condition into parameters.

    DTRN eq 2: `γ^l_{t,b} = MLP_{θ^l_γ}(T_t, BS_b)`, `β^l_{t,b} = MLP_{θ^l_β}(T_t, BS_b)`: one
    MLP (ReLU hidden layer, linear output) per generated parameter set `l`. The generators
    are one `ExpertBank` per layer (one kernel `[num_generators, in, out]`), so all of them
    run as two einsums over every (task, behaviour) condition at once.

    Args:
        num_generators: int. Parameter sets generated (e.g. one per conditional LayerNorm).
        units: int. Hidden width of every generator.
        output_dim: int. Size of each generated parameter set (reshape it as needed).

    Call arguments:
        condition: tensor `[P, C]`, P conditions (e.g. task ⊕ behaviour-type embeddings).

    Returns:
        One tensor `[P, num_generators, output_dim]`.

    Example:

    >>> hyper = tfmtl.layers.HyperNetwork(num_generators=4, units=8, output_dim=16)
    >>> tuple(hyper(np.ones((6, 10), "float32")).shape)
    (6, 4, 16)
    """

    def __init__(self, num_generators: int, units: int, output_dim: int, **kwargs):
        super().__init__(**kwargs)
        for arg, value in (
            ("num_generators", num_generators),
            ("units", units),
            ("output_dim", output_dim),
        ):
            if int(value) < 1:
                raise ValueError(f"HyperNetwork needs `{arg}` >= 1. Received: `{arg}={value}`")
        self.num_generators, self.units, self.output_dim = (
            int(num_generators),
            int(units),
            int(output_dim),
        )
        self.hidden = ExpertBank(
            self.num_generators, [self.units], activation="relu", name="hidden"
        )
        self.out = ExpertBank(
            self.num_generators, [self.output_dim], activation="linear", name="out"
        )

    def build(self, input_shape):
        self.hidden.build(input_shape)
        self.out.build((input_shape[0], self.num_generators, self.units))
        self.built = True

    def call(self, condition):
        # DTRN eq 2: generator l reads the condition through its own two-layer MLP.
        return self.out(self.hidden(condition))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_generators, self.output_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "num_generators": self.num_generators,
            "units": self.units,
            "output_dim": self.output_dim,
        }
