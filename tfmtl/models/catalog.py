"""The zoo's families and switchers, each registered once with its defaults (and choices).

Imported by `tfmtl.models.registry`; a new family is one entry here (see the registry's
docstring).
"""

from tfmtl.models.registry import FLAT, register_family, register_switcher

_UNITS, _LEVELS = [128, 64], [[128], [64]]
_L = "tfmtl.layers."
register_switcher("single_task", _L + "shared_bottom:SingleTask", dict(units=_UNITS))
register_switcher("shared_bottom", _L + "shared_bottom:SharedBottom", dict(units=_UNITS))
# Every gated switcher takes `gate`: softmax (the papers'), topk (Shazeer et al. ICLR'17) or
# dselect (Hazimeh et al. NeurIPS'21), or a mapping {kind: topk, k: 2, loss_weight: 0.01}.
_GATE = dict(gate="softmax")
_GATED = {"gate": ("softmax", "topk", "dselect")}
register_switcher(
    "omoe", _L + "mmoe:OMoE", dict(num_experts=8, expert_units=_UNITS, **_GATE), _GATED
)
register_switcher(
    "mmoe", _L + "mmoe:MMoE", dict(num_experts=8, expert_units=_UNITS, **_GATE), _GATED
)
register_switcher(
    "ml_mmoe",
    _L + "mmoe:MLMMoE",
    dict(num_experts=6, expert_units=_LEVELS, num_levels=2, **_GATE),
    _GATED,
)
register_switcher(
    "cgc",
    _L + "ple:CGC",
    dict(num_task_experts=2, num_shared_experts=2, expert_units=_UNITS, **_GATE),
    _GATED,
)
_PLE = dict(num_task_experts=2, num_shared_experts=2, expert_units=_LEVELS, num_levels=2)
register_switcher("ple", _L + "ple:PLE", {**_PLE, **_GATE}, _GATED)
_ADATT = dict(num_task_experts=2, expert_units=_LEVELS, num_levels=2, native_fusion=True)
register_switcher("adatt", _L + "adatt:AdaTT", {**_ADATT, "num_shared_experts": 1, **_GATE}, _GATED)
register_switcher("adatt_sp", _L + "adatt:AdaTTSp", {**_ADATT, **_GATE}, _GATED)
register_switcher(
    "cross_stitch", _L + "cross_stitch:CrossStitch", dict(units=_UNITS, self_weight=0.9)
)
_SLUICE = dict(units=[64, 64], num_subspaces=2, self_weight=0.9, combine="sum")
_SLUICE["orthogonality_weight"] = 0.0
register_switcher("sluice", _L + "sluice:Sluice", _SLUICE, choices={"combine": ("sum", "concat")})
register_switcher(
    "asymmetric",
    _L + "asymmetric:AsymmetricSharing",
    dict(units=_UNITS, sources=None, fusion="sum"),
    choices={"fusion": ("sum", "mean", "concat")},
)
register_switcher(
    "customized",
    _L + "customized:CustomizedSharing",
    dict(shared_units=_UNITS, task_units=[64, 32]),
)
register_switcher(
    "home",
    _L + "home:HoME",
    dict(
        expert_units=_UNITS,
        task_groups=None,
        num_experts=[1, 1, 1],
        num_levels=1,
        feature_gate_rank=8,
        self_gate=True,
    ),
)

_M = "tfmtl.models.families:"
_TREE = dict(
    switcher="mmoe",
    facet_order=None,
    branch_units=[64],
    route_facets=None,
    task_features=None,
    tower_dropout=0.0,
)
register_family(FLAT, _M + "build_flat_family", dict(switcher="mmoe"), switcher="switcher")
register_family("hmtl", _M + "build_hmtl_family", _TREE, switcher="switcher")
register_family("mfh", _M + "build_mfh_family", {**_TREE, "depth": None}, switcher="switcher")
register_family(
    "dml",
    _M + "build_dml_family",
    dict(backbone="mmoe", variant="dml", gkd_units=[80], gkd_gate_units=[], tower_dropout=0.0),
    switcher="backbone",
    choices={"variant": ("plain", "ctfm", "gkd", "dml_v0", "dml")},
)
register_family(
    "dtrn",
    _M + "build_dtrn_family",
    dict(
        backbone="mmoe",
        tim=True,
        trm=True,
        sequences=None,
        target=None,
        num_heads=2,
        ffn_units=None,
        hyper_units=32,
        type_dim=None,
        injection="ln",
        trm_units=64,
        tower_dropout=0.0,
    ),
    switcher="backbone",
    choices={"injection": ("ln", "qkv", "ffn1", "ffn2")},
)
register_family(
    "esmm",
    _M + "build_esmm_family",
    dict(
        switcher=None,
        ctr_loss_weight=1.0,
        cvr_loss_weight=0.0,
        ctcvr_loss_weight=1.0,
        tower_dropout=0.0,
    ),
    switcher="switcher",
)
register_family(
    "aitm",
    _M + "build_aitm_family",
    dict(
        switcher=None,
        steps=None,
        bottom_units=[128, 64, 32],
        calibrator_weight=0.6,
        tower_dropout=0.0,
    ),
    switcher="switcher",
)
register_family(
    "escm2",
    "tfmtl.models.escm2:build_escm2_family",
    dict(
        switcher=None,
        risk="dr",
        counterfactual_weight=1.0,
        ctcvr_loss_weight=1.0,
        propensity_clip=0.05,
        imputation_units=[64],
        tower_dropout=0.0,
    ),
    switcher="switcher",
    choices={"risk": ("dr", "ips")},
)
register_family(
    "stem",
    "tfmtl.models.stem:build_stem_family",
    dict(num_task_experts=1, num_shared_experts=1, expert_units=_UNITS, tower_dropout=0.0),
)
register_family(
    "pepnet",
    "tfmtl.models.pepnet:build_pepnet_family",
    dict(
        domain_features=None,
        prior_features=None,
        gate_units=64,
        tower_dropout=0.0,
        epnet=True,
        ppnet=True,
    ),
)
