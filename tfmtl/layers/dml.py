"""DMLTowers: the task towers of Deep Mutual Learning (DML eq 5-7) over any backbone's outputs."""

from __future__ import annotations

import keras

from tfmtl.layers.ctfm import CTFM, _check_list
from tfmtl.layers.gkd import GKD
from tfmtl.layers.mlp import MLP
from tfmtl.layers.towers import KINDS, Tower


@keras.saving.register_keras_serializable(package="tfmtl")
class DMLTowers(keras.layers.Layer):
    """The K task towers of DML, replacing a backbone's standalone towers.

    With the backbone's tower inputs `l^1..l^K` (DML eq 3):

    - eq 5 `l̂ = CTFM(l)` (shared attention across tasks; skipped with `ctfm=False`);
    - eq 6 `h^k = H^k(l̂^k)`, a per-task MLP of `tower_units[k]`;
    - eq 7 `o^k = GKD^k(h^k, {h^j})` (with `gkd=True`), else `o^k = head^k(h^k)`.

    `ctfm=False, gkd=False` is the plain tower (`Tower`); `ctfm={"stop_gradient": "none"}`
    with GKD on is the paper's DML_v0 ablation.

    Args:
        tower_units: list of K lists of int. Hidden widths of H^k per task (the paper's
            towers (128, 80, 1) are `[128, 80]` here, the 1 being the head).
        kinds: list of K str. `"binary"` or `"regression"` per task.
        ctfm: bool or dict. Use CTFM (eq 5); a dict sets its options: `stop_gradient`, the
            cut of the K/V path, "all" (paper), "others" or "none" (DML_v0), and
            `activation`, its projections' (default `None`). Defaults to `True`.
        gkd: bool or dict. Use GKD (eq 7); a dict sets its options: `units`, the
            global-knowledge MLP (last width d1, default `[80]`), `gate_units`, the gate
            MLP's hidden layers (default `[]`), `stop_gradient`, "all" (paper) or "others".
            Defaults to `True`.
        dropout: float. Dropout in H^k and GKD's MLP. Defaults to `0.0`.

    Call arguments:
        inputs: list of K tensors `[B, D]`, the backbone's tower inputs.
        training: bool. Dropout on or off.

    Returns:
        A list of K tensors `[B]`, one head per task.

    Example:

    >>> ls = [np.random.rand(4, 8).astype("float32") for _ in range(2)]
    >>> towers = tfmtl.layers.DMLTowers([[6], [6]], ["binary", "regression"], gkd={"units": [5]})
    >>> [tuple(o.shape) for o in towers(ls)]
    [(4,), (4,)]

    Reference: Ren et al., "Deep Mutual Learning across Task Towers for Effective Multi-Task
    Recommender Learning", ORSUM@RecSys'23, eq 3-7.
    """

    def __init__(
        self,
        tower_units: list[list[int]],
        kinds: list[str],
        ctfm: bool | dict = True,
        gkd: bool | dict = True,
        dropout: float = 0.0,
        **kwargs,
    ):
        # Configs saved with the options as arguments of their own still load.
        ctfm = _options(ctfm, CTFM_OPTIONS, kwargs, "ctfm_", {"ctfm_activation": "activation"})
        gkd = _options(gkd, GKD_OPTIONS, kwargs, "gkd_", {})
        super().__init__(**kwargs)
        self.tower_units = [[int(u) for u in units] for units in tower_units]
        self.kinds = list(kinds)
        _check_towers(self.tower_units, self.kinds, gkd)
        self.ctfm_options, self.gkd_options = ctfm, gkd
        self.ctfm, self.gkd = ctfm is not None, gkd is not None
        self.dropout = float(dropout)
        k = len(self.kinds)
        self.cross = (
            CTFM(
                k,
                stop_gradient=ctfm["stop_gradient"],
                projection_activation=ctfm["activation"],
                name="ctfm",
            )
            if self.ctfm
            else None
        )
        self._make_heads(gkd)

    def _make_heads(self, gkd: dict | None) -> None:
        """GKD's hidden MLPs and distilling heads (DML eq 7), or plain towers without GKD."""
        if not self.gkd:
            self.heads = [
                Tower(u, kind=kind, dropout=self.dropout, name=f"tower_{i}")
                for i, (u, kind) in enumerate(zip(self.tower_units, self.kinds))
            ]
            return
        self.hidden = [
            MLP(u, dropout=self.dropout, name=f"hidden_{i}") for i, u in enumerate(self.tower_units)
        ]
        self.heads = [
            GKD(
                i,
                kind,
                gkd["units"],
                gkd["gate_units"],
                gkd["stop_gradient"],
                self.dropout,
                name=f"gkd_{i}",
            )
            for i, kind in enumerate(self.kinds)
        ]

    def build(self, input_shape):
        shapes = _check_list(input_shape, len(self.kinds), f"DMLTowers '{self.name}'")
        if self.cross is not None:
            self.cross.build(shapes)
        if self.gkd:
            for mlp, shape in zip(self.hidden, shapes):
                mlp.build(shape)
            hidden_shapes = [mlp.compute_output_shape(s) for mlp, s in zip(self.hidden, shapes)]
            for head in self.heads:
                head.build(hidden_shapes)
        else:
            for tower, shape in zip(self.heads, shapes):
                tower.build(shape)
        self.built = True

    def call(self, inputs, training=None):
        towers_in = self.cross(list(inputs)) if self.cross is not None else list(inputs)  # DML eq 5
        if not self.gkd:
            return [tower(x, training=training) for tower, x in zip(self.heads, towers_in)]
        hidden = [mlp(x, training=training) for mlp, x in zip(self.hidden, towers_in)]  # DML eq 6
        return [head(hidden, training=training) for head in self.heads]  # DML eq 7

    def compute_output_shape(self, input_shape):
        return [tuple(s)[:-1] for s in input_shape]

    def get_config(self):
        return {
            **super().get_config(),
            "tower_units": self.tower_units,
            "kinds": self.kinds,
            "ctfm": self.ctfm_options or False,
            "gkd": self.gkd_options or False,
            "dropout": self.dropout,
        }


CTFM_OPTIONS = {"stop_gradient": "all", "activation": None}
GKD_OPTIONS = {"units": [80], "gate_units": [], "stop_gradient": "all"}


def _options(value, defaults: dict, kwargs: dict, prefix: str, renamed: dict) -> dict | None:
    """`value` (bool or dict of options) as the full options dict, or None when switched off.

    Options given the old way, as `<prefix><option>` keyword arguments, are taken from
    `kwargs` (and removed from it).
    """
    legacy = {}
    for key in list(kwargs):
        option = renamed.get(key) or (key[len(prefix) :] if key.startswith(prefix) else None)
        if option in defaults:
            legacy[option] = kwargs.pop(key)
    if value is False or value is None:
        return None
    given = dict(value) if isinstance(value, dict) else {}
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(
            f"DMLTowers: unknown {prefix.rstrip('_')} option(s) {unknown}; "
            f"it takes: {', '.join(defaults)}."
        )
    options = {**defaults, **legacy, **given}
    for key in ("units", "gate_units"):
        if key in options:
            options[key] = [int(u) for u in options[key]]
    return options


def _check_towers(tower_units: list, kinds: list, gkd) -> None:
    """One tower per kind, known kinds, and hidden units wherever GKD reads them."""
    if len(tower_units) != len(kinds) or not kinds:
        raise ValueError(
            f"DMLTowers needs one tower_units entry per kind (one per task). Received "
            f"{len(tower_units)} tower_units and {len(kinds)} kinds."
        )
    if any(k not in KINDS for k in kinds):
        raise ValueError(f"DMLTowers kinds must be in {KINDS}. Received: kinds={kinds}")
    if gkd and any(not u for u in tower_units):
        raise ValueError(
            "GKD reads each task's hidden h^k, so every tower needs hidden units. "
            f"Received: tower_units={tower_units}"
        )
