"""ESMM's entire-space effect on the funnel generator: ESMM, the naive CVR heads, AITM.

The generator (`tfmtl.data.funnel`) draws, for every impression, whether it would have
converted had it been clicked (`cvr_if_clicked`), so a CVR head is scored where it is used:
on all impressions against that counterfactual label, and on clicked impressions against the
observed conversion (the biased view a real log gives). `examples/esmm_funnel.py` scores its
runs with `funnel_scores` too.
"""

from __future__ import annotations

import numpy as np

from tfmtl.reproduce.runner import Variant

TITLE = "ESMM vs naive CVR vs AITM on the click -> conversion funnel generator"
CONFIG = "esmm_funnel.yaml"
SEEDS = 5
COLUMNS = (
    ("cvr_auc_all", "CVR AUC, all impressions (counterfactual)"),
    ("cvr_auc_clicked", "CVR AUC, clicked"),
    ("ctcvr_auc", "CTCVR AUC"),
    ("ctr_auc", "CTR AUC"),
)
_AITM_STOP = {"early_stopping": {"monitor": "val_ctcvr_auc", "patience": 2, "mode": "max"}}
VARIANTS = (
    Variant("ESMM (CTR + CTCVR, entire space)", {"family": "esmm"}),
    Variant(
        "Naive: CVR on clicks, embeddings shared with CTR",
        {"family": "esmm", "cvr_loss_weight": 1.0, "ctcvr_loss_weight": 0.0},
    ),
    Variant(
        "Naive: CVR model alone, on clicks (ESMM's BASE)",
        {
            "family": "esmm",
            "ctr_loss_weight": 0.0,
            "cvr_loss_weight": 1.0,
            "ctcvr_loss_weight": 0.0,
        },
    ),
    Variant(
        "AITM (click -> conversion, calibrator 0.6)",
        {"family": "aitm", "bottom_units": [64, 32], "calibrator_weight": 0.6},
        training=_AITM_STOP,  # AITM has no CVR head: it stops on its CTCVR AUC
    ),
)
# a --quick run: 60k impressions generated, so the test split holds some conversions
QUICK_SET = ["data.rows=60000"]
QUICK = {"eval_rows": 20000}
NOTES = (
    "Paper column empty: ESMM and AITM report on Taobao and industrial logs, not on this "
    "generator (and neither paper is in the project's papers). AITM's CVR is pCTCVR / pCTR; "
    "'-': the row has no trained CTR head."
)


def funnel_scores(data, predictions: dict, ctr_trained: bool = True, split: str = "test") -> dict:
    """CVR AUC on all impressions (counterfactual) and on clicked ones; CTCVR and CTR AUC."""
    from tfmtl.metrics import auc

    p = dict(predictions)
    if "cvr" not in p:  # AITM's conversion head is a CTCVR
        p["cvr"] = np.clip(p["ctcvr"] / np.maximum(p["ctr"], 1e-7), 0.0, 1.0)
    labels, oracle = data[split].labels, data.oracle[split]
    clicked = labels["ctr"] == 1
    return {
        "cvr_auc_all": auc(oracle["cvr_if_clicked"], p["cvr"]),
        "cvr_auc_clicked": auc(labels["cvr"][clicked], p["cvr"][clicked]),
        "ctcvr_auc": auc(labels["ctcvr"], p["ctcvr"]) if ctr_trained else float("nan"),
        "ctr_auc": auc(labels["ctr"], p["ctr"]) if ctr_trained else float("nan"),
    }


def score(model, view, data) -> dict:
    from tfmtl.training import predict

    config = model.metadata["model_config"]
    trained = config.get("ctr_loss_weight", 1.0) > 0
    return funnel_scores(data, predict(model, view, "test"), ctr_trained=trained)
