"""Asymmetric sharing (PLE §3, Fig. 1b): one task's bottom also feeds other tasks."""

from __future__ import annotations

import keras
from keras import ops

from tfmtl.layers.experts import ExpertBank
from tfmtl.layers.switcher import Switcher

FUSIONS = ("sum", "mean", "concat")


@keras.saving.register_keras_serializable(package="tfmtl")
class AsymmetricSharing(Switcher):
    """Asymmetric sharing: task bottoms shared one way, along chosen task relations.

    Every task t has its own bottom `h_t = f_t(x)`; its output fuses its bottom with the
    bottoms of its `sources[t]`: `y_t = fuse(h_t, h_s for s in sources[t])`, fuse being
    concatenation, sum or mean (PLE §3: "representation of which task to be shared depends
    on relations between tasks"). Gradients of task t flow into its sources' bottoms, so
    a source learns for both; the relation is asymmetric when s feeds t but not t s. The
    bottoms are one `ExpertBank` (one kernel per layer).

    Args:
        num_outputs: int. Number of tasks.
        units: list of int. Hidden sizes of each task's bottom.
        sources: list of `num_outputs` lists of task indices, or None. Task t also reads
            the bottoms in `sources[t]`. Defaults to a chain: task t reads tasks 0..t-1.
        fusion: str. `"sum"`, `"mean"` or `"concat"`. Defaults to `"sum"`, which keeps every
            output at the bottom's width so the switcher drops into the tree structures too
            (their path sums need one width); `"concat"` widens task t by its sources.

    Call arguments:
        inputs: tensor `[B, D]`, or a list of `num_outputs` views `[B, D]`.
        return_gates: bool. Also return the gate weights, named by `gate_names`.
            Defaults to `False`.

    Returns:
        A list of `num_outputs` tensors `[B, H]`, H = `units[-1]` (times the bottoms read
        with `"concat"`); with `return_gates=True`, the pair `(outputs, [])`.

    Example:

    >>> layer = tfmtl.layers.AsymmetricSharing(
    ...     num_outputs=2, units=[8], sources=[[], [0]], fusion="concat")
    >>> [tuple(o.shape) for o in layer(np.ones((3, 16), "float32"))]
    [(3, 8), (3, 16)]
    """

    def __init__(
        self, num_outputs: int, units: list[int], sources=None, fusion: str = "sum", **kwargs
    ):
        super().__init__(num_outputs, **kwargs)
        if fusion not in FUSIONS:
            raise ValueError(
                f"AsymmetricSharing fusion must be one of {FUSIONS}. Received: fusion={fusion!r}"
            )
        if sources is None:
            sources = [list(range(k)) for k in range(self.num_outputs)]
        sources = [[int(s) for s in row] for row in sources]
        if len(sources) != self.num_outputs:
            raise ValueError(
                f"AsymmetricSharing needs one sources list per task ({self.num_outputs}). "
                f"Received: sources={sources}"
            )
        for t, row in enumerate(sources):
            bad = [s for s in row if not 0 <= s < self.num_outputs or s == t]
            if bad or len(set(row)) != len(row):
                raise ValueError(
                    f"AsymmetricSharing sources[{t}]={row} must list distinct other tasks in "
                    f"[0, {self.num_outputs}); invalid: {bad or row}"
                )
        self.units, self.sources, self.fusion = [int(u) for u in units], sources, fusion

    def build_switcher(self, input_shape):
        self.bottoms = ExpertBank(self.num_outputs, self.units, name="bottoms")
        self.bottoms.build(input_shape)

    def _fuse(self, h):
        outputs = []
        for t, row in enumerate(self.sources):
            parts = [h[:, t]] + [h[:, s] for s in row]
            if self.fusion == "concat":
                outputs.append(ops.concatenate(parts, axis=-1) if row else parts[0])
            else:
                total = sum(parts[1:], parts[0])
                outputs.append(total / float(len(parts)) if self.fusion == "mean" else total)
        return outputs, []

    def forward(self, x):
        return self._fuse(self.bottoms(x))

    def forward_views(self, views):
        return self._fuse(self.bottoms(ops.stack(views, axis=1)))  # view t feeds bottom t

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "sources": self.sources,
            "fusion": self.fusion,
        }
