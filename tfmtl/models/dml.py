"""`backbone + DML` as one flag: any zoo switcher, its towers replaced by `DMLTowers`.

Example:

>>> columns = {"x0": np.arange(8.0), "x1": np.ones(8)}
>>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0"), tfmtl.DenseFeature("x1")]).adapt(columns)
>>> tasks = [tfmtl.Task("ctr", tower_units=(8,)), tfmtl.Task("rating", kind="regression")]
>>> model = build_dml_model("mmoe", spec, tasks, variant="dml_v0", num_experts=3)
>>> model.name, model.get_layer("dml_towers").ctfm_options["stop_gradient"]
('mmoe_dml_v0', 'none')
"""

from __future__ import annotations

from tfmtl.features import FeatureSpec
from tfmtl.layers.dml import DMLTowers
from tfmtl.layers.switcher import Switcher
from tfmtl.models.flat import build_flat
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.models.stages import check_switcher, embed, switch
from tfmtl.tasks import check_tasks

# The paper's Table 1/2 rows: variant -> DMLTowers' `ctfm` and `gkd` (None: plain towers).
DML_VARIANTS = {
    "plain": None,
    "ctfm": {"ctfm": True, "gkd": False},
    "gkd": {"ctfm": False, "gkd": True},
    "dml_v0": {"ctfm": {"stop_gradient": "none"}, "gkd": True},
    "dml": {"ctfm": True, "gkd": True},
}


def build_dml(
    spec: FeatureSpec,
    tasks,
    switcher: Switcher,
    variant: str | dict = "dml",
    lookup: bool = True,
    tower_dropout: float = 0.0,
    name: str = "dml",
) -> MultiTaskModel:
    """Features -> `switcher` -> `DMLTowers` (CTFM eq 5, H^k eq 6, GKD eq 7) -> task heads.

    Args:
        spec: `FeatureSpec`. Adapted.
        tasks: list of `Task`. `Task.tower_units` are H^k's hidden widths (the paper's towers
            (128, 80, 1) are `tower_units=(128, 80)`).
        switcher: `Switcher`. One output per task (Shared-Bottom, MMoE, PLE, AdaTT, ...): its
            outputs are the tower inputs `l^k` (eq 3); CTFM needs them of one width.
        variant: str or dict. A row of the paper's tables, a name in `DML_VARIANTS` ("dml",
            "dml_v0", "ctfm", "gkd", "plain"), or `DMLTowers`' `ctfm` and `gkd` options
            (e.g. `{"ctfm": True, "gkd": {"units": [64]}}`). Defaults to `"dml"`.
        lookup: bool. Raw values looked up in the model (see `FeatureEmbedding`).
            Defaults to `True`.
        tower_dropout: float. Dropout in H^k and GKD's MLP. Defaults to `0.0`.
        name: str. The model's name. Defaults to `"dml"`.

    Returns:
        A `MultiTaskModel` with one head `[B]` per task; `metadata["dml"]` records the
        towers' options.
    """
    tasks = check_tasks(tasks)
    check_switcher(switcher, tasks, "build_dml")
    towers = _variant(variant)
    inputs, x = embed(spec, lookup)
    layer = DMLTowers(
        [list(t.tower_units) for t in tasks],
        [t.kind for t in tasks],
        **towers,
        dropout=tower_dropout,
        name="dml_towers",
    )
    heads = dict(zip((t.name for t in tasks), layer(switch(switcher, x))))
    metadata = {"dml": {"ctfm": layer.ctfm_options, "gkd": layer.gkd_options}}
    return MultiTaskModel(inputs=inputs, outputs=heads, tasks=tasks, metadata=metadata, name=name)


def build_dml_model(
    backbone: str, spec, tasks, variant: str = "dml", lookup: bool = True, **hparams
) -> MultiTaskModel:
    """Zoo backbone `backbone` (e.g. "mmoe") with `variant` in `DML_VARIANTS` as its towers.

    `variant="plain"` is exactly `tfmtl.models.build_model(backbone, ...)`.
    """
    from tfmtl.models.zoo import default_hparams, make_switcher

    _variant(variant)
    tasks = check_tasks(tasks)
    switcher = make_switcher(backbone, len(tasks), **hparams)
    name = backbone if variant == "plain" else f"{backbone}_{variant}"
    if DML_VARIANTS[variant] is None:
        model = build_flat(spec, tasks, switcher, lookup=lookup, name=name)
    else:
        model = build_dml(spec, tasks, switcher, variant, lookup=lookup, name=name)
    hparams = {**default_hparams(backbone), **hparams}
    model.metadata.update({"model": backbone, "variant": variant, "hparams": hparams})
    return model


def _variant(variant) -> dict:
    """DMLTowers' `ctfm` and `gkd` for `variant` (a `DML_VARIANTS` name or the options)."""
    if isinstance(variant, dict):
        unknown = sorted(set(variant) - {"ctfm", "gkd"})
        if unknown:
            raise ValueError(
                f"DML variant options are `ctfm` and `gkd`. Received unknown: {unknown}"
            )
        return {"ctfm": variant.get("ctfm", True), "gkd": variant.get("gkd", True)}
    if variant not in DML_VARIANTS:
        raise ValueError(
            f"Unknown DML variant={variant!r}. Choose one of: {', '.join(DML_VARIANTS)}"
        )
    return DML_VARIANTS[variant] or {"ctfm": False, "gkd": False}
