"""The Switcher contract (MFH §3.2.1): one input in, `num_outputs` tensors out."""

from __future__ import annotations

import warnings

import keras


@keras.saving.register_keras_serializable(package="tfmtl")
class Switcher(keras.layers.Layer):
    """Base class of every switcher: Shared-Bottom, OMoE, MMoE, CGC, PLE, AdaTT, ...

    A switcher takes ONE input and returns a list of `num_outputs` tensors, so any macro
    structure (flat, H-MTL, MFH) takes any switcher. The input is either

    - a tensor `[B, D]` shared by every output, or
    - a list of `num_outputs` tensors `[B, D]`, one view per output (DTRN's task-specific
      bottoms, or the outputs of a lower switcher): output k is computed from view k.

    Subclasses implement `forward(x) -> (outputs, gates)` for one shared tensor; the base
    class applies it per view when given a list (output k of `forward(view_k)`). Switchers
    with a cheaper native list path (CGC, PLE) override `forward_views`.

    Args:
        num_outputs: int. Number of output tensors (tasks, or branches of a tree node).

    Call arguments:
        inputs: tensor `[B, D]`, or a list of `num_outputs` views `[B, D]`.
        return_gates: bool. Also return the gate weights, a list of `[B, E]` tensors named by
            `gate_names` (the expert-utilisation analysis, PLE Fig. 8). Defaults to `False`.

    Returns:
        A list of `num_outputs` tensors `[B, H]`; with `return_gates=True`, the pair
        `(outputs, gates)` (`gates` is empty for a switcher without gates).

    Example:

    >>> mmoe = tfmtl.layers.MMoE(num_outputs=2, num_experts=2, expert_units=[4])
    >>> isinstance(mmoe, tfmtl.layers.Switcher), mmoe.gate_names
    (True, ['task_0', 'task_1'])
    """

    def __init__(self, num_outputs: int, **kwargs):
        if "return_gates" in kwargs:
            # Configs saved before the gates became a call argument still load.
            kwargs.pop("return_gates")
            warnings.warn(
                f"{type(self).__name__}(return_gates=...) is ignored: pass `return_gates=True` "
                "when calling the switcher, or read a model's gates with tfmtl.models.gate_model.",
                stacklevel=2,
            )
        super().__init__(**kwargs)
        if int(num_outputs) < 1:
            raise ValueError(
                f"{type(self).__name__} needs num_outputs >= 1. Received: num_outputs={num_outputs}"
            )
        self.num_outputs = int(num_outputs)

    # -- the two forward paths -------------------------------------------------------
    def forward(self, x):
        raise NotImplementedError

    def forward_views(self, views):
        outputs, per_view = [], []
        for k, view in enumerate(views):
            outs_k, gates_k = self.forward(view)
            outputs.append(outs_k[k])
            per_view.append(gates_k)
        # Gate i as output i computed it: from view i (the last view for gates past it).
        count = len(per_view[0]) if per_view else 0
        return outputs, [per_view[min(i, len(views) - 1)][i] for i in range(count)]

    @property
    def gate_names(self) -> list[str]:
        """Names of the gates returned with `return_gates=True`, in order."""
        return []

    # -- Keras plumbing ----------------------------------------------------------------
    if keras.backend.backend() == "torch":
        # On torch a Keras layer is a torch.nn.Module, whose __call__ runs `self.forward`:
        # here that is the Switcher contract's, not Keras's entry point. Route it to Keras.
        def _call_impl(self, *args, **kwargs):
            return keras.Operation.__call__(self, *args, **kwargs)

    def _check_views(self, input_shape):
        if (
            isinstance(input_shape, (list, tuple))
            and input_shape
            and isinstance(input_shape[0], (list, tuple))
        ):
            if len(input_shape) not in self.accepted_view_counts():
                raise ValueError(
                    f"{type(self).__name__} '{self.name}' takes a tensor or a list of "
                    f"{' or '.join(map(str, self.accepted_view_counts()))} views. "
                    f"Received a list of {len(input_shape)}."
                )
            dims = {int(s[-1]) for s in input_shape}
            if len(dims) != 1:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}' needs views of one width. "
                    f"Received widths {[int(s[-1]) for s in input_shape]}."
                )
            return tuple(input_shape[0])
        return tuple(input_shape)

    def accepted_view_counts(self) -> tuple[int, ...]:
        return (self.num_outputs,)

    def build(self, input_shape):
        self.build_switcher(self._check_views(input_shape))
        self.built = True

    def build_switcher(self, input_shape):
        """Create weights for inputs of `input_shape` = `[B, D]`."""
        raise NotImplementedError

    def call(self, inputs, return_gates: bool = False):
        if isinstance(inputs, (list, tuple)):
            outputs, gates = self.forward_views(list(inputs))
        else:
            outputs, gates = self.forward(inputs)
        return (outputs, gates) if return_gates else outputs

    def get_config(self):
        return {**super().get_config(), "num_outputs": self.num_outputs}
