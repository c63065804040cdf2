"""The demo dataset: click / finish-within-clicks / watch time from the MMoE synthetic data."""

import numpy as np

from tfmtl.data import available_datasets, load_dataset, load_synthetic
from tfmtl.data.demo import load_demo


def test_labels_follow_the_train_medians_and_the_click_space():
    data = load_demo(rows=600, seed=3)
    base = load_synthetic(rows=600, correlation=0.7, seed=3)
    click_at, finish_at = (
        np.median(base["train"].labels["task_a"]),
        np.median(base["train"].labels["task_b"]),
    )
    for split in ("train", "test"):
        y_a, y_b = base[split].labels["task_a"], base[split].labels["task_b"]
        labels = data[split].labels
        np.testing.assert_array_equal(labels["click"], (y_a > click_at).astype(np.float32))
        clicked = labels["click"] == 1
        np.testing.assert_array_equal(
            labels["finish"][clicked], (y_b[clicked] > finish_at).astype(np.float32)
        )
        assert (
            np.isnan(labels["finish"][~clicked]).all()
            and np.isnan(labels["watch_time"][~clicked]).all()
        )
        np.testing.assert_array_equal(labels["watch_time"][clicked], y_b[clicked])
    assert abs(np.mean(data["train"].labels["click"]) - 0.5) < 0.01
    assert [(t.name, t.kind) for t in data.tasks] == [
        ("click", "binary"),
        ("finish", "binary"),
        ("watch_time", "regression"),
    ]


def test_registered():
    assert "demo" in available_datasets()
    assert sorted(load_dataset("demo", rows=300).splits) == ["test", "train", "validation"]
