"""examples/esmm_funnel.py: early stopping on a CVR validation AUC, not the CTR-dominated loss."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tfmtl.data.funnel import load_funnel

_PATH = Path(__file__).resolve().parents[1] / "examples" / "esmm_funnel.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("esmm_funnel", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_variants_with_a_cvr_head_stop_on_the_same_criterion(example):
    assert set(example.MONITOR) == set(example.VARIANTS)
    assert {example.MONITOR[v] for v in example.WEIGHTS} == {
        "val_cvr_auc"
    }  # esmm and both naive heads
    assert example.MONITOR["aitm"] == "val_ctcvr_auc"  # AITM has no CVR head


@pytest.mark.parametrize("variant", ["esmm", "naive", "aitm"])
def test_run_one_stops_on_the_monitor_and_keeps_the_best_epoch(example, variant):
    data = load_funnel(rows=2_000, seed=0)
    args = example.parse_args(["--epochs", "2", "--patience", "1", "--batch-size", "256"])
    row = example.run_one(data, variant, 0, args)
    assert 1 <= row["best_epoch"] <= row["epochs"] <= 2
    assert 0.0 <= row["cvr_auc_all"] <= 1.0
    json.dumps(row)  # runs.jsonl rows must be plain JSON
    assert np.isnan(row["ctr_auc"]) == (variant == "naive")
