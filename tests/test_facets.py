"""Facets, leaf tasks, group sample inclusion (MFH §5.1.4) and routing by group."""

import numpy as np
import pytest

from tfmtl.facets import (
    PAPER_INCLUSION,
    base_name,
    evaluate_by_group,
    expand_tasks,
    facet_groups,
    facet_partitions,
    leaf_name,
    route,
    routed_predictions,
    task_codes,
)
from tfmtl.losses import MaskedLoss
from tfmtl.tasks import Task

BASE = [Task("ctr", label="click"), Task("rating", kind="regression", label="stars")]
# a tiny labelled batch: one row per (group, freshness) pair, plus a missing rating
BATCH = {
    "group": np.array(["new", "low", "high", "new", "low", "high"]),
    "fresh": np.array(["y", "y", "y", "n", "n", "n"]),
    "click": np.array([1, 0, 1, 0, 1, 1], np.float32),
    "stars": np.array([5, 2, 4, np.nan, 3, 1], np.float32),
}


def test_leaf_names_partitions_and_codes():
    leaves = expand_tasks(BASE, "group", ["new", "low", "high"], column="group")
    assert [t.name for t in leaves] == [
        "ctr.new",
        "ctr.low",
        "ctr.high",
        "rating.new",
        "rating.low",
        "rating.high",
    ]
    assert leaf_name("ctr", "high", "y") == "ctr.high.y" and base_name("ctr.high.y") == "ctr"
    assert leaves[0].facets == {"behaviour": "ctr", "group": "new"}
    assert leaves[4].label_column == "stars" and leaves[4].kind == "regression"
    assert facet_partitions(leaves) == {
        "behaviour": ["ctr", "rating"],
        "group": ["new", "low", "high"],
    }
    assert task_codes(leaves)["rating.low"] == (("behaviour", "rating"), ("group", "low"))
    assert list(facet_partitions(leaves, ["group", "behaviour"])) == ["group", "behaviour"]


def test_inclusion_rules_on_a_tiny_labelled_batch():
    leaves = {
        t.name: t
        for t in expand_tasks(
            BASE, "group", ["new", "low", "high"], column="group", include=PAPER_INCLUSION
        )
    }
    nan = np.nan
    # own group only for new users; new-user rows join low; new and low rows join high
    np.testing.assert_array_equal(leaves["ctr.new"].labels(BATCH), [1, nan, nan, 0, nan, nan])
    np.testing.assert_array_equal(leaves["ctr.low"].labels(BATCH), [1, 0, nan, 0, 1, nan])
    np.testing.assert_array_equal(leaves["ctr.high"].labels(BATCH), [1, 0, 1, 0, 1, 1])
    np.testing.assert_array_equal(
        leaves["rating.low"].labels(BATCH), [5, 2, nan, nan, 3, nan]
    )  # NaN stays out
    # the masked loss counts exactly the included rows
    y = leaves["ctr.low"].labels(BATCH)
    p = np.array([0.9, 0.2, 0.5, 0.4, 0.7, 0.1], np.float32)
    keep = np.isfinite(y)
    want = -np.mean(y[keep] * np.log(p[keep]) + (1 - y[keep]) * np.log(1 - p[keep]))
    assert float(np.sum(MaskedLoss("binary")(y, p))) == pytest.approx(want, rel=1e-5)


def test_a_second_facet_and_rules_joined_with_and():
    leaves = expand_tasks(
        BASE, "group", ["new", "low", "high"], column="group", include={"high": ["low"]}
    )
    high = [t for t in leaves if t.facets["group"] == "high"]
    split = expand_tasks(high, "fresh", ["y", "n"], column="fresh", tower_units={"y": (8, 4)})
    t = {x.name: x for x in split}["ctr.high.y"]
    assert t.sample_space == "group in high,low and fresh in y"
    assert t.tower_units == (8, 4) and t.facets == {
        "behaviour": "ctr",
        "group": "high",
        "fresh": "y",
    }
    np.testing.assert_array_equal(t.labels(BATCH), [np.nan, 0, 1, np.nan, np.nan, np.nan])
    with pytest.raises(ValueError, match="reads column 'fresh', which the data lacks"):
        t.labels({k: v for k, v in BATCH.items() if k != "fresh"})
    with pytest.raises(ValueError, match="Task 'x': cannot read sample_space 'fresh is y'"):
        Task("x", sample_space="group in a and fresh is y")


def test_expand_errors_name_the_culprit():
    with pytest.raises(
        ValueError, match="include names partition\\(s\\) \\['vip'\\] of facet 'group'"
    ):
        expand_tasks(BASE, "group", ["new", "high"], column="group", include={"vip": ["new"]})
    with pytest.raises(ValueError, match="include\\['high'\\] names partition\\(s\\) \\['old'\\]"):
        expand_tasks(BASE, "group", ["new", "high"], column="group", include={"high": ["old"]})
    leaves = expand_tasks(BASE, "group", ["new", "high"], column="group")
    with pytest.raises(ValueError, match="Task 'ctr.new' is already split by facet 'group'"):
        expand_tasks(leaves, "group", ["new"], column="group")
    with pytest.raises(ValueError, match="Tasks 'a' and 'b' have the same facets"):
        task_codes([Task("a", facets={"g": "x"}), Task("b", facets={"g": "x"})])


def test_facet_groups_and_routing_serve_only_the_rows_own_group():
    leaves = expand_tasks(BASE, "group", ["new", "low", "high"], column="group")
    high = [t for t in leaves if t.facets["group"] == "high"]
    twelve = [t for t in leaves if t.facets["group"] != "high"] + expand_tasks(
        high, "fresh", ["y", "n"], column="fresh"
    )
    groups = facet_groups(twelve, ["group", "fresh"])
    assert groups == {
        "new": ["ctr.new", "rating.new"],
        "low": ["ctr.low", "rating.low"],
        "high.y": ["ctr.high.y", "rating.high.y"],
        "high.n": ["ctr.high.n", "rating.high.n"],
    }
    assert route(groups, "high.y") == ["ctr.high.y", "rating.high.y"]
    with pytest.raises(KeyError, match="Unknown group 'vip'"):
        route(groups, "vip")
    groups = facet_groups(leaves, "group")
    preds = {t.name: np.full(6, float(i)) for i, t in enumerate(leaves)}  # head i predicts i
    routed = routed_predictions(preds, BATCH["group"], groups)
    np.testing.assert_array_equal(routed["ctr"], [0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(routed["rating"], [3, 4, 5, 3, 4, 5])
    with pytest.raises(KeyError, match="Rows of group\\(s\\) \\['vip'\\] have no heads"):
        routed_predictions(preds, np.array(["vip"] * 6), groups)


def test_evaluate_by_group_scores_each_group_on_its_rows():
    rows = np.array(["new"] * 4 + ["high"] * 4)
    labels = {
        "ctr": np.array([1, 0, 1, 0, 1, 1, 0, 0], np.float32),
        "rating": np.array([5, 1, 4, 2, 3, 3, 3, 3], np.float32),
    }
    preds = {
        "ctr.new": np.array([0.9, 0.1, 0.8, 0.2, 0, 0, 0, 0]),
        "rating.new": np.array([5, 1, 4, 2, 0, 0, 0, 0.0]),
        "ctr.high": np.array([0, 0, 0, 0, 0.2, 0.9, 0.1, 0.3]),
        "rating.high": np.array([9, 9, 9, 9, 4, 4, 4, 4.0]),
    }
    groups = {"new": ["ctr.new", "rating.new"], "high": ["ctr.high", "rating.high"]}
    report = evaluate_by_group(
        BASE, preds, labels, rows, groups
    )  # high: 3 of 4 (pos, neg) pairs ordered
    assert report["new"]["ctr"]["auc"] == 1.0 and report["new"]["rating"]["mse"] == 0.0
    assert report["high"]["ctr"]["auc"] == 0.75 and report["high"]["rating"]["mse"] == 1.0
    assert report["high"]["ctr"]["count"] == 4
