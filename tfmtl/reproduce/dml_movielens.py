"""DML Tables 1-2: MovieLens-1M, {SB, MMoE, PLE} x {plain, +CTFM, +GKD, +DML}, with consistency.

Backbones as the paper's §3.1.4: SB one shared layer of 128; MMoE 3 experts of 128; PLE 2
levels of 1 task-specific expert per task + 1 shared, each of 128; GKD layers of 80. The
consistency ratio (§3.2) is exact over all test pairs with different ratings, computed by
`tfmtl.metrics_consistency.consistency_ratio` as in `examples/dml_movielens.py`.
"""

from __future__ import annotations

from tfmtl.reproduce.runner import Variant

TITLE = "DML Table 1 (and Table 2's PLE ablation), MovieLens-1M: ctr AUC, rating MSE, consistency"
CONFIG = "dml_movielens.yaml"
SEEDS = 5
COLUMNS = (("ctr", "ctr AUC"), ("rating", "rating MSE"), ("consistency", "consistency ratio"))
BACKBONES = {
    "SB": {"family": "shared_bottom", "units": [128]},
    "MMoE": {"family": "mmoe", "num_experts": 3, "expert_units": [128]},
    "PLE": {
        "family": "ple",
        "num_task_experts": 1,
        "num_shared_experts": 1,
        "expert_units": [[128], [128]],
        "num_levels": 2,
    },
}
SUFFIXES = {"plain": "", "ctfm": " + CTFM", "gkd": " + GKD", "dml": " + DML"}
PAPER = {  # Table 1 (ML-1M AUC, MSE, consistent ratio); Table 2 for PLE + CTFM, PLE + GKD
    "SB": ("0.8100", "0.7724", "0.7530"),
    "SB + DML": ("0.8115", "0.7648", "0.7649"),
    "MMoE": ("0.8105", "0.7688", "0.7507"),
    "MMoE + DML": ("0.8135", "0.7591", "0.7596"),
    "PLE": ("0.8122", "0.7606", "0.7514"),
    "PLE + CTFM": ("0.8133", "0.7603"),
    "PLE + GKD": ("0.8137", "0.7574"),
    "PLE + DML": ("0.8151", "0.7533", "0.7631"),
}
VARIANTS = tuple(
    Variant(
        f"{name}{suffix}",
        {"family": "dml", "backbone": backbone, "variant": variant, "gkd_units": [80]},
        dict(zip([k for k, _ in COLUMNS], PAPER.get(f"{name}{suffix}", ()))),
    )
    for name, backbone in BACKBONES.items()
    for variant, suffix in SUFFIXES.items()
)
NOTES = (
    "Consistency ratio: the share of test pairs with different ratings whose ctr and rating "
    "predictions are both in the ratings' order. The paper reports 20 runs per row."
)


def score(model, view, data) -> dict:
    """Each task's test metric and the exact consistency ratio (DML §3.2)."""
    from tfmtl.metrics_consistency import consistency_ratio
    from tfmtl.reproduce.engine import task_metrics
    from tfmtl.training import evaluate, predict

    metrics = task_metrics(model.tasks, evaluate(model, view, "test"))
    pred = predict(model, view, "test")
    ratio = consistency_ratio(view["test"].extras["rating"], pred["ctr"], pred["rating"])
    return {**metrics, "consistency": float(ratio["ratio"])}
