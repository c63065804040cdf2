"""The Switcher contract (MFH §3.2.1): one input in, `num_outputs` tensors out."""

from __future__ import annotations

import keras


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

    With `return_gates=True` a gated switcher returns `(outputs, gates)`, where `gates`
    is a list of `[B, num_experts]` gate weights named by `gate_names`, for the expert
    utilisation analysis (PLE Fig. 8).

    Args:
        num_outputs: int. Number of output tensors (tasks, or branches of a tree node).
        return_gates: bool. Also return the gate weights. Defaults to `False`.
    """

    def __init__(self, num_outputs: int, return_gates: bool = False, **kwargs):
        super().__init__(**kwargs)
        if int(num_outputs) < 1:
            raise ValueError(
                f"{type(self).__name__} needs num_outputs >= 1. Received: num_outputs={num_outputs}"
            )
        self.num_outputs, self.return_gates = int(num_outputs), bool(return_gates)

    # -- the two forward paths -------------------------------------------------------
    def forward(self, x):
        raise NotImplementedError

    def forward_views(self, views):
        outputs, gates = [], []
        for k, view in enumerate(views):
            outs_k, gates_k = self.forward(view)
            outputs.append(outs_k[k])
            gates.extend(gates_k)
        return outputs, gates

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

    def call(self, inputs):
        if isinstance(inputs, (list, tuple)):
            outputs, gates = self.forward_views(list(inputs))
        else:
            outputs, gates = self.forward(inputs)
        return (outputs, gates) if self.return_gates else outputs

    def get_config(self):
        return {
            **super().get_config(),
            "num_outputs": self.num_outputs,
            "return_gates": self.return_gates,
        }
