"""tfmtl.contract: the tfmtl.json format, its default fusion, facet routing and checks, TF-free."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from tfmtl import contract
from tfmtl.contract import ContractError, UnknownFacetGroup
from tfmtl.tasks import Task

PLAIN = [Task("click"), Task("finish"), Task("watch", kind="regression")]
FUNNEL = [Task("ctr"), Task("cvr", sample_space="click == 1"), Task("ctcvr")]
LEAVES = [
    Task(f"{b}.{g}", facets={"behaviour": b, "group": g})
    for b in ("ctr", "cvr")
    for g in ("new", "old")
]
GROUPS = {"new": ["ctr.new", "cvr.new"], "old": ["ctr.old", "cvr.old"]}


def document(**changes) -> dict:
    """A valid format-1 document (as export writes it), with `changes` applied."""
    doc = {
        "format": 1,
        "model": {
            "name": "ranker",
            "class": "MultiTaskModel",
            "zoo": "ple",
            "version": 3,
            "family": "ple",
        },
        "tasks": [
            {"name": "click", "kind": "binary", "facets": {}, "loss_weight": 1.0},
            {"name": "watch", "kind": "regression", "facets": {}, "loss_weight": 0.5},
        ],
        "features": [
            {
                "name": "age",
                "kind": "dense",
                "dtype": "float32",
                "shape": [],
                "sample_values": [30.0],
            },
            {
                "name": "hist",
                "kind": "sequence",
                "dtype": "int64",
                "shape": [3],
                "sample_values": [7],
                "padding": 0,
            },
        ],
        "fusion": {
            "kind": "product",
            "weights": {"click": 1.0, "watch": 0.0},
            "length_feature": None,
            "length_transform": "none",
        },
        "facet_groups": {},
        "metrics": {},
        "versions": {"tfmtl": "0.1.0"},
    }
    doc.update(changes)
    return doc


def test_import_leaves_tensorflow_keras_and_grpc_out():
    code = (
        "import sys, tfmtl.contract; "
        "print([m for m in ('tensorflow', 'keras', 'grpc') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_metadata_path_is_under_assets_extra(tmp_path):
    version_dir = tmp_path / "ranker" / "3"
    assert contract.metadata_path(version_dir) == version_dir / "assets.extra" / "tfmtl.json"


def test_plain_default_is_the_product_of_binary_heads():
    assert contract.default_fusion(PLAIN) == {
        "kind": "product",
        "weights": {"click": 1.0, "finish": 1.0, "watch": 0.0},
        "length_feature": None,
        "length_transform": "none",
    }
    assert contract.entire_space_task({"model": "ple"}, PLAIN) is None


@pytest.mark.parametrize(
    "metadata",
    [
        {"family": "esmm"},  # the model registry's family
        {"model": "esmm"},  # a .keras saved before build_esmm recorded its family
        {"model": "esmm", "family": "esmm", "entire_space_task": "ctcvr"},  # what build_esmm writes
    ],
)
def test_esmm_default_is_pctcvr_alone(metadata):
    entire = contract.entire_space_task(metadata, FUNNEL)
    assert entire == "ctcvr"
    # pCTCVR = pCTR x pCVR already: multiplying pCTR in again would rank by pCTR^2 x pCVR
    assert contract.default_fusion(FUNNEL, entire)["weights"] == {
        "ctr": 0.0,
        "cvr": 0.0,
        "ctcvr": 1.0,
    }


def test_aitm_default_is_the_last_funnel_step():
    tasks = [Task("click"), Task("cart"), Task("buy")]
    entire = contract.entire_space_task({"family": "aitm"}, tasks)
    assert entire == "buy"
    assert contract.default_fusion(tasks, entire)["weights"] == {
        "click": 0.0,
        "cart": 0.0,
        "buy": 1.0,
    }


def test_unknown_entire_space_task_named():
    with pytest.raises(
        ContractError, match=r"entire_space_task names no task. Received: 'pctcvr'. Tasks: \['ctr'"
    ):
        contract.entire_space_task({"entire_space_task": "pctcvr"}, FUNNEL)


def test_overrides_merge_over_the_default():
    fusion = contract.check_fusion(
        {"weights": {"watch": 0.2}, "length_feature": "video_len", "length_transform": "log1p"},
        PLAIN,
        dense_features=["video_len"],
    )
    assert fusion == {
        "kind": "product",
        "weights": {"click": 1.0, "finish": 1.0, "watch": 0.2},
        "length_feature": "video_len",
        "length_transform": "log1p",
    }


@pytest.mark.parametrize(
    "fusion,field,message",
    [
        (
            "product",
            "fusion",
            r"fusion must be a dict with keys \['kind', 'weights', .*Received: str",
        ),
        (
            {"weight": {}},
            "fusion",
            r"fusion has unknown key\(s\) \['weight'\]. Known keys: \['kind'",
        ),
        (
            {"weights": {"like": 1}},
            "fusion.weights",
            r"fusion.weights names unknown task\(s\) \['like'\]. Tasks: \['click'",
        ),
        (
            {"weights": {"click": float("nan")}},
            "fusion.weights['click']",
            r"fusion.weights\['click'\] must be a finite number. Received: nan",
        ),
        (
            {"weights": {"click": True}},
            "fusion.weights['click']",
            r"fusion.weights\['click'\] must be a finite number",
        ),
        (
            {"kind": "max"},
            "fusion.kind",
            r"fusion.kind must be one of \('product', 'weighted_sum'\). Received: 'max'",
        ),
        (
            {"length_transform": "exp"},
            "fusion.length_transform",
            r"fusion.length_transform must be one of \('none', 'log1p', 'sigmoid'\). Received: "
            r"'exp'",
        ),
        (
            {"length_feature": "city"},
            "fusion.length_feature",
            r"fusion.length_feature must name a dense feature. Received: 'city'. Dense features: "
            r"\['video_len'\]",
        ),
    ],
)
def test_bad_fusion_names_the_field_and_the_choices(fusion, field, message):
    with pytest.raises(ContractError, match=message) as e:
        contract.check_fusion(fusion, PLAIN, dense_features=["video_len"])
    assert e.value.field == field and "\n" not in str(e.value)


def test_facet_leaves_need_a_group():
    routing = contract.facet_routing(LEAVES, GROUPS)
    assert routing == {"default_facet_group": None, "facet_group_required": True}
    meta = {
        "tasks": [{"name": t.name, "kind": t.kind, "facets": t.facets} for t in LEAVES],
        "facet_groups": GROUPS,
        **routing,
    }
    assert contract.group_heads(meta, "old") == ["ctr.old", "cvr.old"]
    with pytest.raises(
        ContractError,
        match=r"facet_group is empty, but model 'mfh' .* name one of \['new', 'old'\]",
    ):
        contract.group_heads(meta, "", owner="model 'mfh'")
    with pytest.raises(
        UnknownFacetGroup,
        match=r"facet_group 'whales' is not a facet group of the model. "
        r"Groups: \['new', 'old'\]",
    ) as e:
        contract.group_heads(meta, "whales")
    assert isinstance(e.value, LookupError) and e.value.field == "facet_group"
    del meta[
        "facet_group_required"
    ]  # a file written before the key: derived from the tasks' facets
    assert contract.facet_group_required(meta)


def test_a_default_group_serves_requests_without_one():
    routing = contract.facet_routing(LEAVES, GROUPS, default_group="new")
    meta = {
        "tasks": [{"name": t.name, "kind": t.kind, "facets": t.facets} for t in LEAVES],
        "facet_groups": GROUPS,
        **routing,
    }
    assert contract.group_heads(meta) == ["ctr.new", "cvr.new"]
    with pytest.raises(
        ContractError, match=r"default_facet_group is not a facet group. Received: 'vip'"
    ):
        contract.facet_routing(LEAVES, GROUPS, default_group="vip")
    with pytest.raises(
        ContractError, match=r"facet_groups\['new'\] names unknown head\(s\) \['ctr'\]"
    ):
        contract.facet_routing(LEAVES, {"new": ["ctr"]})


def test_groups_over_plain_heads_are_optional():
    """A plain model may name a subset of its heads (the serving fixture's "engaged")."""
    meta = {
        "tasks": [{"name": t.name, "kind": t.kind, "facets": {}} for t in PLAIN],
        "facet_groups": {"engaged": ["finish", "watch"]},
    }
    assert not contract.facet_group_required(meta)
    assert contract.group_heads(meta) == ["click", "finish", "watch"]
    assert contract.group_heads(meta, "engaged") == ["finish", "watch"]
    assert contract.task_kinds(meta) == {
        "click": "binary",
        "finish": "binary",
        "watch": "regression",
    }


def test_read_metadata_round_trip(tmp_path):
    path = contract.metadata_path(tmp_path)
    path.parent.mkdir()
    path.write_text(json.dumps(document()))
    meta = contract.read_metadata(tmp_path)
    assert contract.task_names(meta) == ["click", "watch"] and contract.facet_groups(meta) == {}
    assert contract.metadata_fusion(meta)["weights"] == {"click": 1.0, "watch": 0.0}
    assert contract.metadata_fusion({"tasks": meta["tasks"]})["weights"] == {
        "click": 1.0,
        "watch": 0.0,
    }


def _without(key):
    doc = document()
    del doc[key]
    return doc


def _edit(fn):
    doc = document()
    fn(doc)
    return doc


@pytest.mark.parametrize(
    "doc,field,message",
    [
        (document(format=2), "format", r"format is 2; this tfmtl reads format 1"),
        (_without("format"), "format", r"format is None; this tfmtl reads format 1"),
        (_without("fusion"), "fusion", r"fusion is missing; a format 1 file has it"),
        (
            document(tasks={"click": "binary"}),
            "tasks",
            r"tasks must be a list. Received: \{'click': 'binary'\}",
        ),
        (
            _edit(lambda d: d["tasks"][1].update(kind="ranking")),
            "tasks[1].kind",
            r"tasks\[1\].kind must be one of \('binary', 'regression'\). Received: 'ranking'",
        ),
        (
            _edit(lambda d: d["tasks"][0].pop("name")),
            "tasks[0].name",
            r"tasks\[0\].name is missing",
        ),
        (
            _edit(lambda d: d["model"].update(version="3")),
            "model.version",
            r"model.version must be an integer. Received: '3'",
        ),
        (
            _edit(lambda d: d["features"][1].update(shape=3)),
            "features[1].shape",
            r"features\[1\].shape must be a list",
        ),
        (
            _edit(lambda d: d["fusion"].update(kind="max")),
            "fusion.kind",
            r"fusion.kind must be one of",
        ),
        (
            _edit(lambda d: d["fusion"]["weights"].update(like=1.0)),
            "fusion.weights",
            r"fusion.weights names unknown task\(s\) \['like'\]",
        ),
        (
            document(facet_groups={"engaged": ["like"]}),
            "facet_groups['engaged']",
            r"facet_groups\['engaged'\] must list task names. Received: \['like'\]",
        ),
        (
            document(default_facet_group="engaged"),
            "default_facet_group",
            r"default_facet_group must be a facet group. Received: 'engaged'",
        ),
        (
            document(facet_group_required="yes"),
            "facet_group_required",
            r"facet_group_required must be true or false",
        ),
    ],
)
def test_malformed_file_names_the_file_and_the_field(tmp_path, doc, field, message):
    path = contract.metadata_path(tmp_path)
    path.parent.mkdir()
    path.write_text(json.dumps(doc))
    with pytest.raises(ContractError, match=message) as e:
        contract.read_metadata(tmp_path)
    assert str(e.value).startswith(f"{path}: ") and e.value.field == field


def test_missing_or_broken_file_named(tmp_path):
    with pytest.raises(
        ContractError, match=r"assets.extra/tfmtl.json does not exist: .* not a tfmtl export"
    ):
        contract.read_metadata(tmp_path)
    path = contract.metadata_path(tmp_path)
    path.parent.mkdir()
    path.write_text("{oops")
    with pytest.raises(ContractError, match=rf"{path} is not valid JSON \(Expecting property name"):
        contract.read_metadata(tmp_path)


def test_format_1_files_without_the_new_keys_still_read():
    old = document()
    for feature in old["features"]:
        feature.pop("sample_values"), feature.pop("padding", None)
    old["model"].pop("family")
    new = contract.parse_metadata(copy.deepcopy(old), source="old.json")
    assert new == old and contract.group_heads(new) == ["click", "watch"]
    assert contract.parse_metadata({**old, "added_later": {"x": 1}})["added_later"] == {
        "x": 1
    }  # unknown keys pass
