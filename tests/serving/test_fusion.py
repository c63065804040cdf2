"""Fusion against hand-written numpy: PLE eq 1 (product with f(length)) and the weighted sum."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from tfmtl import contract
from tfmtl.serving import Fusion, ServingError

P = {
    "click": np.array([0.5, 0.2, 0.9]),
    "finish": np.array([0.25, 0.8, 0.1]),
    "watch": np.array([3.0, -1.0, 2.0]),
}
LENGTH = np.array([60.0, 600.0, 10.0])


def test_product_is_ple_eq1():
    fusion = Fusion("product", {"click": 1.0, "finish": 0.5, "watch": 0.0}, "video_len", "log1p")
    want = P["click"] * P["finish"] ** 0.5 * np.log1p(LENGTH)
    np.testing.assert_allclose(fusion.score(P, LENGTH), want, rtol=1e-12)


@pytest.mark.parametrize(
    "transform,f",
    [("none", lambda x: x), ("log1p", np.log1p), ("sigmoid", lambda x: 1 / (1 + np.exp(-x)))],
)
def test_weighted_sum_with_length_transforms(transform, f):
    fusion = Fusion("weighted_sum", {"click": 0.3, "finish": 0.7, "watch": 0.1}, "x", transform)
    x = np.array([0.5, 0.0, 3.0])
    want = (0.3 * P["click"] + 0.7 * P["finish"] + 0.1 * P["watch"]) * f(x)
    np.testing.assert_allclose(fusion.score(P, x), want, rtol=1e-12)


def test_no_length_feature_means_f_is_one():
    fusion = Fusion("product", {"click": 2.0, "finish": 1.0})
    np.testing.assert_allclose(fusion.score(P), P["click"] ** 2 * P["finish"], rtol=1e-12)


def test_metadata_default_and_merge():
    tasks = [
        {"name": "click", "kind": "binary"},
        {"name": "finish", "kind": "binary"},
        {"name": "watch", "kind": "regression"},
    ]
    default = Fusion.from_metadata(None, tasks)
    assert (
        default.weights == {"click": 1.0, "finish": 1.0, "watch": 0.0}
        and default.length_feature is None
    )
    merged = default.merged(
        weights={"finish": 3.0}, length_feature="video_len", length_transform="sigmoid"
    )
    assert merged.weights == {"click": 1.0, "finish": 3.0, "watch": 0.0}
    assert (merged.length_feature, merged.length_transform) == ("video_len", "sigmoid")
    replaced = merged.merged(weights={"watch": 1.0}, replace_weights=True, length_feature="")
    assert (
        replaced.weights == {"click": 0.0, "finish": 0.0, "watch": 1.0}
        and replaced.length_feature is None
    )
    assert default.restricted(["finish"]).weights == {"finish": 1.0}


@pytest.mark.parametrize(
    "kwargs,word",
    [
        ({"kind": "max"}, "fusion.kind"),
        ({"length_transform": "exp"}, "fusion.length_transform"),
        ({"weights": {"click": float("nan")}}, "fusion.weights['click']"),
        ({"weights": {"click": "2"}}, "fusion.weights['click']"),
    ],
)
def test_bad_fusion_names_the_field(kwargs, word):
    with pytest.raises(ServingError) as e:
        Fusion(**kwargs)
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT and word in e.value.message


def test_missing_task_or_length_named():
    with pytest.raises(ServingError, match=r"fusion.weights\['like'\]"):
        Fusion("product", {"like": 1.0}).score(P)
    with pytest.raises(ServingError, match="fusion.length_feature 'video_len'"):
        Fusion("product", {"click": 1.0}, "video_len").score(P)


def test_esmm_default_ranks_by_pctcvr_alone():
    meta = {
        "tasks": [{"name": n, "kind": "binary"} for n in ("ctr", "cvr", "ctcvr")],
        "entire_space_task": "ctcvr",
    }
    fusion = Fusion.of_model(meta)
    assert fusion.weights == {"ctr": 0.0, "cvr": 0.0, "ctcvr": 1.0}
    p = {"ctr": np.array([0.9, 0.2]), "cvr": np.array([0.1, 0.6])}
    p["ctcvr"] = p["ctr"] * p["cvr"]  # ESMM eq 2
    np.testing.assert_allclose(fusion.score(p), p["ctcvr"], rtol=1e-12)  # not pCTR^2 x pCVR
    assert Fusion.from_metadata(None, meta["tasks"], entire_space_task="ctcvr") == fusion


def test_a_groups_default_fuses_only_its_heads():
    leaves = [
        {"name": f"{b}.{g}", "kind": "binary", "facets": {"behaviour": b, "group": g}}
        for b in ("ctr", "cvr")
        for g in ("new", "old")
    ]
    meta = {
        "tasks": leaves,
        "facet_groups": {"new": ["ctr.new", "cvr.new"], "old": ["ctr.old", "cvr.old"]},
    }
    fusion = Fusion.of_model(meta).restricted(contract.group_heads(meta, "old"))
    assert fusion.weights == {"ctr.old": 1.0, "cvr.old": 1.0}
    p = {t["name"]: np.array([0.5, 0.1 * (i + 1)]) for i, t in enumerate(leaves)}
    np.testing.assert_allclose(fusion.score(p), p["ctr.old"] * p["cvr.old"], rtol=1e-12)
