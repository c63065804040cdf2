"""H-MTL and MFH: tree wiring against hand-built expectations, path weights, round trips,
routing."""

import json

import keras
import numpy as np
import pytest

from tfmtl.facets import PAPER_INCLUSION, expand_tasks, route
from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec
from tfmtl.layers import PathCombine
from tfmtl.layers.mmoe import MMoE
from tfmtl.layers.ple import CGC, PLE
from tfmtl.layers.shared_bottom import SharedBottom
from tfmtl.models.flat_facets import build_flat_facets
from tfmtl.models.tree import build_hmtl, build_mfh
from tfmtl.models.tree_plan import hmtl_plan, mfh_plan, scope_name
from tfmtl.tasks import Task

GROUPS = ["new", "low", "high"]
BASE = [Task("ctr"), Task("rating", kind="regression")]
LEAVES = expand_tasks(BASE, "group", GROUPS, column="activity_group", include=PAPER_INCLUSION)
SMALL = {"num_experts": 2, "expert_units": [4]}

_rng = np.random.default_rng(0)
N = 12
COLUMNS = {
    "user_id": _rng.integers(1, 6, N).astype(np.int64),
    "genre": np.asarray(["a", "b", "c"])[_rng.integers(0, 3, N)].astype(object),
    "x0": _rng.normal(size=N).astype(np.float32),
    "x1": _rng.normal(size=N).astype(np.float32),
}
SPEC = FeatureSpec(
    [
        CategoricalFeature("user_id", embedding_dim=3, dtype="int64"),
        CategoricalFeature("genre", embedding_dim=2),
        DenseFeature("x0"),
        DenseFeature("x1"),
    ]
).adapt(COLUMNS)


def _randomise(model, seed=1):
    rng = np.random.default_rng(seed)
    model.set_weights(
        [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in model.get_weights()]
    )


def _predict(model, columns=COLUMNS):
    x = {k: keras.ops.convert_to_tensor(v) for k, v in columns.items()}
    return {k: np.asarray(v) for k, v in model(x, training=False).items()}


# -- plans against hand-built trees ---------------------------------------------------------
def test_hmtl_plan_is_the_paper_tree():
    plan = hmtl_plan(LEAVES, ["behaviour", "group"]).to_config()
    assert [(n["name"], n["level"], n["parents"], n["children"]) for n in plan["nodes"]] == [
        ("root", 0, [], ["behaviour=ctr", "behaviour=rating"]),
        ("behaviour=ctr", 1, [["root", 0]], ["ctr.new", "ctr.low", "ctr.high"]),
        ("behaviour=rating", 1, [["root", 1]], ["rating.new", "rating.low", "rating.high"]),
    ]
    assert plan["leaves"]["rating.low"] == [["behaviour=rating", 1]]
    # the other ordering: group first (MFH §4.1.2 "we can divide by user groups first")
    flipped = hmtl_plan(LEAVES, ["group", "behaviour"])
    assert flipped.nodes["root"].children == ["group=new", "group=low", "group=high"]
    assert flipped.leaves["rating.low"] == [("group=low", 1)]


def test_mfh_plan_is_eq_5():
    plan = mfh_plan(LEAVES, ["behaviour", "group"])
    assert {n.name: n.children for n in plan.nodes.values()} == {
        "root": ["behaviour", "group"],
        "behaviour": ["behaviour=ctr", "behaviour=rating"],
        "group": ["group=new", "group=low", "group=high"],
        "behaviour=ctr": ["ctr.new", "ctr.low", "ctr.high"],
        "behaviour=rating": ["rating.new", "rating.low", "rating.high"],
        "group=new": ["ctr.new", "rating.new"],
        "group=low": ["ctr.low", "rating.low"],
        "group=high": ["ctr.high", "rating.high"],
    }
    # Output_{New&Skip}: Switcher_Skip^{New&Skip} + Switcher_New^{New&Skip}
    assert plan.leaves["rating.new"] == [("behaviour=rating", 0), ("group=new", 1)]
    assert plan.nodes["group=high"].parents == [("group", 2)]


def test_mfh_plan_generalises_to_three_facets_and_partial_splits():
    full = expand_tasks(
        expand_tasks([Task("a"), Task("b")], "group", ["new", "high"], column="g"),
        "fresh",
        ["y", "n"],
        column="f",
    )
    plan = mfh_plan(full)
    by_level = {}
    for node in plan.nodes.values():
        by_level.setdefault(node.level, []).append(node.name)
    # §4.2: root, N facet MLPs, then codes of 1 and 2 partitions (C(3,1)*2 and C(3,2)*4)
    assert [len(by_level[k]) for k in sorted(by_level)] == [1, 3, 6, 12]
    assert sorted(plan.feeds("a.new.y")) == sorted(
        ["behaviour=a,group=new", "behaviour=a,fresh=y", "group=new,fresh=y"]
    )
    assert sorted(plan.nodes["behaviour=a,group=new"].parents) == [
        ("behaviour=a", 0),
        ("group=new", 0),
    ]
    # the paper's 12-task variant: only high-activity tasks split by freshness (§5.1.6)
    leaves = expand_tasks([Task("a"), Task("b")], "group", ["new", "high"], column="g")
    partial = [t for t in leaves if "new" in t.name] + expand_tasks(
        [t for t in leaves if "high" in t.name], "fresh", ["y", "n"], column="f"
    )
    plan = mfh_plan(partial, ["behaviour", "group", "fresh"])
    assert plan.feeds("a.new") == ["behaviour=a", "group=new"]
    assert len(plan.feeds("a.high.y")) == 3
    tree = hmtl_plan(partial, ["behaviour", "group", "fresh"])
    assert tree.nodes["behaviour=a"].children == ["a.new", "behaviour=a,group=high"]
    with pytest.raises(
        ValueError, match="task 'a.high.y' is split by facet 'fresh' but task 'a.new' is not"
    ):
        hmtl_plan(partial, ["fresh", "behaviour", "group"])


def test_mfh_depth_connects_towers_to_a_lower_level():
    full = expand_tasks(
        expand_tasks([Task("a"), Task("b")], "group", ["new", "high"], column="g"),
        "fresh",
        ["y", "n"],
        column="f",
    )
    plan = mfh_plan(full, depth=1)
    assert max(n.level for n in plan.nodes.values()) == 2
    assert plan.feeds("a.new.y") == ["behaviour=a", "group=new", "fresh=y"]


def test_plan_errors_name_the_culprit():
    with pytest.raises(ValueError, match="facet_order names facet\\(s\\) \\['colour'\\]"):
        hmtl_plan(LEAVES, ["behaviour", "group", "colour"])
    with pytest.raises(ValueError, match="Task 'ctr.new' has facet 'group' but facet_order"):
        hmtl_plan(LEAVES, ["behaviour"])
    with pytest.raises(ValueError, match="Task 'ctr' has no facets"):
        mfh_plan(BASE)


# -- models follow the equations -------------------------------------------------------------
def _layer(model, kind, name):
    return model.get_layer(f"{kind}_{scope_name(name)}")


def _features(model):
    return model.get_layer("features")(
        {k: keras.ops.convert_to_tensor(v) for k, v in COLUMNS.items()}
    )


def test_hmtl_model_is_eq_4():
    model = build_hmtl(SPEC, LEAVES, ["behaviour", "group"], ("mmoe", SMALL), branch_units=[5])
    _randomise(model)
    got = _predict(model)
    root = _layer(model, "switcher", "root")(_features(model))
    for b_index, behaviour in enumerate(["ctr", "rating"]):
        h = _layer(model, "mlp", f"behaviour={behaviour}")(root[b_index])
        outs = _layer(model, "switcher", f"behaviour={behaviour}")(h)
        for g_index, group in enumerate(GROUPS):
            task = f"{behaviour}.{group}"
            want = _layer(model, "tower", f"{task}")(outs[g_index])
            np.testing.assert_allclose(got[task], np.asarray(want), atol=1e-5)


def test_mfh_model_is_eq_5_with_learnt_path_weights():
    model = build_mfh(SPEC, LEAVES, ["behaviour", "group"], ("mmoe", SMALL), branch_units=[5])
    _randomise(model)
    alphas = {}
    for i, task in enumerate(t.name for t in LEAVES):
        alphas[task] = np.array([0.2 + 0.1 * i, 1.3 - 0.2 * i], "float32")
        _layer(model, "combine", f"{task}").set_weights([alphas[task]])
    got = _predict(model)
    root = _layer(model, "switcher", "root")(_features(model))
    branch = {}
    for f_index, facet in enumerate(["behaviour", "group"]):
        facet_out = _layer(model, "switcher", f"{facet}")(
            _layer(model, "mlp", f"{facet}")(root[f_index])
        )
        parts = ["ctr", "rating"] if facet == "behaviour" else GROUPS
        for p_index, part in enumerate(parts):
            h = _layer(model, "mlp", f"{facet}={part}")(facet_out[p_index])
            branch[part] = [np.asarray(o) for o in _layer(model, "switcher", f"{facet}={part}")(h)]
    for task in (t.name for t in LEAVES):
        behaviour, group = task.split(".")
        via_behaviour = branch[behaviour][GROUPS.index(group)]
        via_group = branch[group][["ctr", "rating"].index(behaviour)]
        a = alphas[task]
        want = _layer(model, "tower", f"{task}")(a[0] * via_behaviour + a[1] * via_group)
        np.testing.assert_allclose(got[task], np.asarray(want), atol=1e-5)


def test_path_combine_against_numpy_and_errors():
    layer = PathCombine(3)
    paths = [np.random.default_rng(i).normal(size=(4, 5)).astype("float32") for i in range(3)]
    out = layer(paths)
    np.testing.assert_allclose(np.asarray(out), sum(paths) / 3, atol=1e-6)  # "mean" start
    layer.set_weights([np.array([0.5, -1.0, 2.0], "float32")])
    np.testing.assert_allclose(
        np.asarray(layer(paths)), 0.5 * paths[0] - paths[1] + 2 * paths[2], atol=1e-6
    )
    with pytest.raises(ValueError, match="paths of one width.*\\[5, 4\\]"):
        PathCombine(2)([paths[0], paths[1][:, :4]])
    with pytest.raises(ValueError, match="list of 2 paths. Received: 3"):
        PathCombine(2)(paths)


def test_path_weights_train():
    model = build_mfh(SPEC, LEAVES, ["behaviour", "group"], ("mmoe", SMALL), branch_units=[5])
    x = {k: keras.ops.convert_to_tensor(v) for k, v in COLUMNS.items()}
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = keras.ops.sum(model(x)["ctr.new"])
    layer = _layer(model, "combine", "ctr.new")
    grad = tape.gradient(loss, layer.alpha.value)
    assert np.all(np.abs(np.asarray(grad)) > 0)


@pytest.mark.parametrize("switcher", ["shared_bottom", "omoe", "mmoe", "ml_mmoe", "cgc", "ple"])
def test_any_zoo_switcher_at_every_node(switcher):
    hp = (
        {"units": [4]}
        if switcher == "shared_bottom"
        else (
            {"num_task_experts": 1, "num_shared_experts": 1, "expert_units": [4]}
            if switcher in ("cgc", "ple")
            else {"num_experts": 2, "expert_units": [4]}
        )
    )
    model = build_mfh(SPEC, LEAVES, ["behaviour", "group"], (switcher, hp), branch_units=[])
    out = _predict(model)
    assert sorted(out) == sorted(t.name for t in LEAVES) and out["ctr.low"].shape == (N,)
    assert np.all((out["ctr.low"] > 0) & (out["ctr.low"] < 1))


def test_switcher_per_level_as_in_the_paper():
    # MFH §5.1.2: shared-bottom at level 0, PLE at level 1, CGC at level 2
    hp = {"num_task_experts": 1, "num_shared_experts": 1, "expert_units": [4]}
    levels = {0: ("shared_bottom", {"units": [6]}), 1: ("ple", hp), 2: ("cgc", hp)}
    model = build_mfh(SPEC, LEAVES, ["behaviour", "group"], levels, branch_units=[5])
    assert isinstance(_layer(model, "switcher", "root"), SharedBottom)
    assert isinstance(_layer(model, "switcher", "group"), PLE)
    assert isinstance(_layer(model, "switcher", "group=new"), CGC)
    assert _layer(model, "switcher", "group").num_outputs == 3
    with pytest.raises(ValueError, match="no entry for level 2"):
        build_mfh(SPEC, LEAVES, ["behaviour", "group"], {0: ("mmoe", SMALL), 1: "mmoe"})
    with pytest.raises(ValueError, match="node 'root' must be a tfmtl Switcher with num_outputs=2"):
        build_hmtl(SPEC, LEAVES, ["behaviour", "group"], lambda node, n: MMoE(3, 2, [4]))
    with pytest.raises(ValueError, match="node 'root' must be named 'switcher_root'"):
        build_hmtl(SPEC, LEAVES, ["behaviour", "group"], lambda node, n: MMoE(n, 2, [4]))
    own = build_hmtl(
        SPEC,
        LEAVES,
        ["behaviour", "group"],
        lambda node, n: MMoE(n, 2, [4], name=node.switcher_name),
    )
    assert isinstance(_layer(own, "switcher", "behaviour=ctr"), MMoE)


def test_heterogeneous_towers_and_per_task_features():
    leaves = expand_tasks(
        BASE,
        "group",
        GROUPS,
        column="activity_group",
        tower_units={"high": (8, 4), "new": (3,), "low": (3,)},
    )
    own = {t.name: ["user_id"] for t in leaves if not t.name.endswith(".new")}  # MFH §5.1.2

    def branch(node):  # heterogeneous intermediate MLPs (§4.3)
        return [6] if "high" in node.name else [3]

    model = build_mfh(
        SPEC,
        leaves,
        ["behaviour", "group"],
        ("mmoe", SMALL),
        branch_units=branch,
        options={"task_features": own},
    )
    assert _layer(model, "mlp", "group=high").units == [6] and _layer(
        model, "mlp", "group=new"
    ).units == [3]
    assert _layer(model, "tower", "ctr.high").units == [8, 4]
    assert _layer(model, "tower", "rating.new").units == [3]
    _randomise(model)
    before = _predict(model)
    other = dict(COLUMNS, user_id=(COLUMNS["user_id"] % 5) + 1)
    after = _predict(model, other)
    np.testing.assert_allclose(
        after["ctr.new"], before["ctr.new"], atol=1e-6
    )  # new users: no user_id
    assert not np.allclose(after["ctr.high"], before["ctr.high"], atol=1e-4)
    with pytest.raises(ValueError, match="feature\\(s\\) \\['nope'\\] absent from the spec"):
        build_mfh(
            SPEC,
            leaves,
            ["behaviour", "group"],
            ("mmoe", SMALL),
            options={"task_features": {"ctr.low": ["nope"]}},
        )


@pytest.mark.parametrize("build", [build_hmtl, build_mfh])
def test_keras_file_round_trip(build, tmp_path):
    own = {"ctr.high": ["user_id"], "rating.high": ["user_id"]}
    model = build(
        SPEC,
        LEAVES,
        ["behaviour", "group"],
        ("cgc", {"num_task_experts": 1, "num_shared_experts": 1, "expert_units": [4]}),
        options={"task_features": own},
    )
    _randomise(model)
    before = _predict(model)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    after = _predict(loaded)
    for k in before:
        np.testing.assert_allclose(after[k], before[k], atol=1e-6)
    assert loaded.metadata["facet_groups"] == model.metadata["facet_groups"]
    assert loaded.metadata["tree"] == json.loads(json.dumps(model.metadata["tree"]))
    assert [t.sample_space for t in loaded.tasks] == [t.sample_space for t in LEAVES]


def test_routing_metadata_gives_exactly_the_groups_heads():
    for model in (
        build_hmtl(SPEC, LEAVES, ["behaviour", "group"], ("mmoe", SMALL)),
        build_mfh(
            SPEC, LEAVES, ["group", "behaviour"], ("mmoe", SMALL), options={"route_facets": "group"}
        ),
        build_flat_facets(SPEC, LEAVES, ("mmoe", SMALL), route_facets="group"),
    ):
        groups = model.metadata["facet_groups"]
        assert groups == {
            "new": ["ctr.new", "rating.new"],
            "low": ["ctr.low", "rating.low"],
            "high": ["ctr.high", "rating.high"],
        }
        assert set().union(*map(set, groups.values())) == set(model.output.keys())
    flat2 = build_flat_facets(SPEC, BASE, ("mmoe", SMALL), groups=GROUPS)
    assert route(flat2.metadata["facet_groups"], "new") == ["ctr", "rating"]
    with pytest.raises(
        KeyError, match="Unknown group 'vip'. Known groups: \\['high', 'low', 'new'\\]"
    ):
        route(groups, "vip")


def test_three_facet_model_routes_by_group_and_freshness():
    leaves = expand_tasks([Task("a"), Task("b")], "group", ["new", "high"], column="g")
    partial = [t for t in leaves if "new" in t.name] + expand_tasks(
        [t for t in leaves if "high" in t.name], "fresh", ["y", "n"], column="f"
    )
    model = build_mfh(SPEC, partial, None, ("mmoe", SMALL), branch_units=[])
    assert model.metadata["facet_groups"] == {
        "new": ["a.new", "b.new"],
        "high.y": ["a.high.y", "b.high.y"],
        "high.n": ["a.high.n", "b.high.n"],
    }
    assert len(_layer(model, "combine", "a.high.y").get_weights()[0]) == 3  # N = 3 paths


def test_export_carries_every_head_and_the_group_map(tmp_path):
    export = pytest.importorskip("tfmtl.export")
    if not hasattr(export, "export_saved_model"):
        pytest.skip("tfmtl.export.export_saved_model has not landed")
    import tensorflow as tf

    model = build_mfh(
        SPEC,
        LEAVES,
        ["behaviour", "group"],
        ("mmoe", SMALL),
        options={"task_features": {"ctr.high": ["user_id"]}},
    )
    _randomise(model)
    path = export.export_saved_model(model, tmp_path, "mfh", warmup_rows=2)
    meta = export.read_metadata(path)
    assert meta["facet_groups"] == model.metadata["facet_groups"]
    assert sorted(t["name"] for t in meta["tasks"]) == sorted(t.name for t in LEAVES)
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    got = serve(**{k: tf.constant(v) for k, v in COLUMNS.items()})
    want = _predict(model)
    for task in want:
        np.testing.assert_allclose(got[task].numpy(), want[task], atol=1e-5)


def test_unknown_tree_option_names_the_option():
    with pytest.raises(ValueError, match="options.route: a tree builder has no option 'route'"):
        build_hmtl(SPEC, LEAVES, ["behaviour", "group"], ("mmoe", SMALL), options={"route": "x"})
