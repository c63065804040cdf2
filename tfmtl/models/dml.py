"""`backbone + DML` as one flag: any zoo switcher, its towers replaced by `DMLTowers`.

Example:

>>> model = build_dml(spec, tasks, tfmtl.layers.PLE(2, 1, 1, [[32], [32]]))       # PLE + DML
>>> v0 = build_dml_model("mmoe", spec, tasks, variant="dml_v0", num_experts=3)     # MMoE + DML_v0
"""

from __future__ import annotations

from tfmtl.features import FeatureSpec
from tfmtl.layers.dml import DMLTowers
from tfmtl.layers.embedding import FeatureEmbedding
from tfmtl.layers.switcher import Switcher
from tfmtl.models.flat import build_flat
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.tasks import check_tasks

# The paper's Table 1/2 rows: variant -> build_dml switches (None: the backbone's plain towers).
DML_VARIANTS = {
    "plain": None,
    "ctfm": {"ctfm": True, "gkd": False, "block_gradients": True},
    "gkd": {"ctfm": False, "gkd": True, "block_gradients": True},
    "dml_v0": {"ctfm": True, "gkd": True, "block_gradients": False},
    "dml": {"ctfm": True, "gkd": True, "block_gradients": True},
}
_CTFM_CUT = {True: "all", False: "none"}


def build_dml(
    spec: FeatureSpec,
    tasks,
    switcher: Switcher,
    ctfm: bool = True,
    gkd: bool = True,
    block_gradients: bool | str = True,
    lookup: bool = True,
    tower_dropout: float = 0.0,
    gkd_units=(80,),
    gkd_gate_units=(),
    gkd_stop_gradient: str = "all",
    name: str = "dml",
    metadata: dict | None = None,
) -> MultiTaskModel:
    """Features -> `switcher` -> `DMLTowers` (CTFM eq 5, H^k eq 6, GKD eq 7) -> task heads.

    Args:
        spec: an adapted `FeatureSpec`.
        tasks: list of `Task`; `Task.tower_units` are H^k's hidden widths (the paper's towers
            (128, 80, 1) are `tower_units=(128, 80)`).
        switcher: any `Switcher` with `num_outputs == len(tasks)` (Shared-Bottom, MMoE, PLE,
            AdaTT, ...): its outputs are the tower inputs `l^k` (eq 3); CTFM needs them of
            one width.
        ctfm, gkd: bool. Use CTFM / GKD. Both: DML; one: the paper's "+CTFM" / "+GKD" rows.
        block_gradients: bool or str. CTFM's stop-gradient on K/V: True = "all" (DML),
            False = "none" (DML_v0), or "others" (only the other tasks' K/V rows).
        lookup: raw values looked up in the model (see `FeatureEmbedding`).
        tower_dropout: dropout in H^k and GKD's MLP.
        gkd_units, gkd_gate_units, gkd_stop_gradient: see `GKD`.
    """
    tasks = check_tasks(tasks)
    if not isinstance(switcher, Switcher):
        raise TypeError(
            f"build_dml needs a tfmtl Switcher as backbone; got {type(switcher).__name__}."
        )
    if switcher.num_outputs != len(tasks):
        raise ValueError(
            f"Switcher '{switcher.name}' has num_outputs={switcher.num_outputs} but there are "
            f"{len(tasks)} tasks {[t.name for t in tasks]}."
        )
    cut = _CTFM_CUT[block_gradients] if isinstance(block_gradients, bool) else block_gradients
    inputs = spec.inputs(lookup=lookup)
    x = FeatureEmbedding(spec, lookup=lookup, name="features")(inputs)
    tower_inputs = switcher(x)
    if switcher.return_gates:
        tower_inputs = tower_inputs[0]
    towers = DMLTowers(
        [list(t.tower_units) for t in tasks],
        [t.kind for t in tasks],
        ctfm=ctfm,
        gkd=gkd,
        ctfm_stop_gradient=cut,
        gkd_stop_gradient=gkd_stop_gradient,
        gkd_units=gkd_units,
        gkd_gate_units=gkd_gate_units,
        dropout=tower_dropout,
        name="dml_towers",
    )
    heads = dict(zip((t.name for t in tasks), towers(list(tower_inputs))))
    meta = {
        "dml": {"ctfm": bool(ctfm), "gkd": bool(gkd), "ctfm_stop_gradient": cut},
        **(metadata or {}),
    }
    return MultiTaskModel(inputs=inputs, outputs=heads, tasks=tasks, metadata=meta, name=name)


def build_dml_model(
    backbone: str,
    spec,
    tasks,
    variant: str = "dml",
    lookup: bool = True,
    return_gates: bool = False,
    **hparams,
) -> MultiTaskModel:
    """Zoo backbone `backbone` (e.g. "mmoe") with `variant` in `DML_VARIANTS` as its towers.

    `variant="plain"` is exactly `tfmtl.models.build_model(backbone, ...)`.
    """
    from tfmtl.models.zoo import default_hparams, make_switcher

    if variant not in DML_VARIANTS:
        raise ValueError(
            f"Unknown DML variant={variant!r}. Choose one of: {', '.join(DML_VARIANTS)}"
        )
    tasks = check_tasks(tasks)
    switcher = make_switcher(backbone, len(tasks), return_gates=return_gates, **hparams)
    metadata = {
        "model": backbone,
        "variant": variant,
        "hparams": {**default_hparams(backbone), **hparams},
    }
    name = backbone if variant == "plain" else f"{backbone}_{variant}"
    if DML_VARIANTS[variant] is None:
        return build_flat(spec, tasks, switcher, lookup=lookup, name=name, metadata=metadata)
    return build_dml(
        spec, tasks, switcher, lookup=lookup, name=name, metadata=metadata, **DML_VARIANTS[variant]
    )
