"""build_dtrn: any backbone, the four ablation variants, masking, `.keras` round trip,
export parity."""

import keras
import numpy as np
import pytest

from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec, SequenceFeature
from tfmtl.layers.dtrn import DTRNBottom
from tfmtl.layers.mmoe import MMoE
from tfmtl.models.dtrn import build_dtrn
from tfmtl.models.zoo import make_switcher
from tfmtl.tasks import Task

N, D = 64, 4
TASKS = [
    Task("ctr", kind="binary", tower_units=(4,)),
    Task("rating", kind="regression", tower_units=(4,)),
]
SMALL = {
    "shared_bottom": {"units": [8]},
    "mmoe": {"num_experts": 2, "expert_units": [8]},
    "ple": {"num_task_experts": 1, "num_shared_experts": 1, "expert_units": [[8], [8]]},
}


def _columns(seed=0):
    rng = np.random.default_rng(seed)
    liked = rng.integers(1, 20, (N, 5))
    liked[:, 3:] = 0
    liked[::3, 1:] = 0
    disliked = rng.integers(1, 20, (N, 3))
    disliked[::2] = 0  # many empty histories
    return {
        "user_id": rng.integers(1, 6, N),
        "item_id": rng.integers(1, 20, N),
        "x": rng.normal(size=N).astype("float32"),
        "liked": liked,
        "disliked": disliked,
    }


def _spec(columns):
    return FeatureSpec(
        [
            CategoricalFeature("user_id", D, "int64"),
            CategoricalFeature("item_id", D, "int64"),
            DenseFeature("x"),
            SequenceFeature("liked", 5, D, "int64", share_with="item_id"),
            SequenceFeature("disliked", 3, D, "int64", share_with="item_id"),
        ]
    ).adapt(columns)


def _predict(model, columns):
    out = model({k: keras.ops.convert_to_tensor(np.asarray(v)) for k, v in columns.items()})
    return {k: np.asarray(v).reshape(-1) for k, v in out.items()}


def _model(backbone="mmoe", tim=True, trm=True, columns=None, **tim_options):
    spec = _spec(columns or _columns())
    tim = {"task_specific": tim, "hyper_units": 4, **tim_options}
    bottom = DTRNBottom(spec, len(TASKS), tim=tim, trm_units=4 if trm else 0, name="dtrn_bottom")
    return build_dtrn(spec, TASKS, make_switcher(backbone, len(TASKS), **SMALL[backbone]), bottom)


@pytest.mark.parametrize("tim, trm", [(False, False), (False, True), (True, False), (True, True)])
def test_variants_feed_the_backbone(tim, trm):
    columns = _columns()
    model = _model("mmoe", tim, trm, columns)
    bottom = model.get_layer("dtrn_bottom")
    views = bottom({k: keras.ops.convert_to_tensor(v) for k, v in columns.items()})
    if tim or trm:
        assert len(views) == 2 and tuple(views[0].shape) == (N, bottom.output_dim)
    else:  # plain backbone: one task-shared tensor
        assert tuple(views.shape) == (N, bottom.output_dim)
    assert bottom.output_dim == 1 + 2 * D + 2 * D  # dense x, user, item; two interests of size d
    assert (
        model.metadata["variant"]
        == {(0, 0): "plain", (0, 1): "trm", (1, 0): "tim", (1, 1): "dtrn"}[(tim, trm)]
    )
    preds = _predict(model, columns)
    assert set(preds) == {"ctr", "rating"} and all(np.isfinite(p).all() for p in preds.values())
    assert ((preds["ctr"] > 0) & (preds["ctr"] < 1)).all()


@pytest.mark.parametrize("backbone", ["shared_bottom", "ple"])
def test_any_backbone_round_trips_through_keras_file(backbone, tmp_path):
    columns = _columns()
    model = _model(backbone, columns=columns, injection=["ln", "ffn1"])
    path = tmp_path / "dtrn.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    for k, v in _predict(model, columns).items():
        np.testing.assert_allclose(_predict(loaded, columns)[k], v, atol=1e-6)
    assert loaded.metadata["backbone"] == backbone and loaded.feature_spec == model.feature_spec


def test_task_specific_bottoms_differ_per_task():
    columns = _columns()
    bottom = _model("mmoe", trm=False, columns=columns).get_layer("dtrn_bottom")
    emb = np.asarray(bottom.tim.task_embedding)
    bottom.tim.task_embedding.assign(emb + np.array([[0.0], [1.0]], "float32"))
    views = bottom({k: keras.ops.convert_to_tensor(v) for k, v in columns.items()})
    v0, v1 = np.asarray(views[0]), np.asarray(views[1])
    sparse = 1 + 2 * D
    np.testing.assert_array_equal(v0[:, :sparse], v1[:, :sparse])  # same sparse embeddings
    assert np.abs(v0[:, sparse:] - v1[:, sparse:]).max() > 1e-3  # task-specific interests


def test_where_padding_sits_does_not_change_predictions():
    columns = _columns()
    model = _model("mmoe", columns=columns)
    before = _predict(model, columns)
    moved = dict(columns)
    liked = columns["liked"].copy()
    moved["liked"] = np.stack(
        [np.concatenate([r[r == 0], r[r != 0]]) for r in liked]
    )  # pads in front now
    assert not np.array_equal(moved["liked"], liked)
    for k, v in _predict(model, moved).items():
        np.testing.assert_allclose(v, before[k], atol=1e-5)


def test_trains_one_epoch():
    from tfmtl.data.dataset import MultiTaskData, Split
    from tfmtl.training import compile_multitask, fit

    columns = _columns()
    labels = {
        "ctr": (np.arange(N) % 2).astype("float32"),
        "rating": np.linspace(1, 5, N).astype("float32"),
    }
    data = MultiTaskData(_spec(columns), TASKS, {"train": Split(columns, labels)})
    model = _model("ple", columns=columns)
    compile_multitask(model, learning_rate=1e-2, jit_compile=False, run_eagerly=True)
    hyper = next(w for w in model.weights if "hyper_gamma" in w.path)
    before = np.asarray(hyper).copy()
    history = fit(model, data, epochs=2, batch_size=32, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert np.abs(np.asarray(hyper) - before).max() > 0  # the task losses reach the hypernetwork


def test_export_parity(tmp_path):
    export = pytest.importorskip("tfmtl.export")
    import tensorflow as tf

    columns = _columns()
    model = _model("mmoe", columns=columns)
    path = export.export_saved_model(model, base=str(tmp_path), name="dtrn")
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    spec = model.feature_spec
    args = {k: tf.constant(np.asarray(v), dtype=spec.input_dtype(k)) for k, v in columns.items()}
    assert tuple(serve.structured_input_signature[1]["liked"].shape) == (None, 5)
    out = serve(**args)
    for k, v in _predict(model, columns).items():
        np.testing.assert_allclose(out[k].numpy().reshape(-1), v, atol=1e-5)


def test_errors_name_the_culprit():
    columns = _columns()
    spec = _spec(columns)
    with pytest.raises(ValueError, match="num_outputs=3"):
        build_dtrn(spec, TASKS, MMoE(3, num_experts=2, expert_units=[4]))
    with pytest.raises(ValueError, match="unknown bottom='dtrn2'. Choose one of: dtrn, tim"):
        build_dtrn(spec, TASKS, "mmoe", bottom="dtrn2")
    with pytest.raises(ValueError, match="DTRNBottom has num_tasks=3"):
        build_dtrn(spec, TASKS, "mmoe", bottom=DTRNBottom(spec, 3))
    with pytest.raises(ValueError, match="unknown tim option"):
        DTRNBottom(spec, 2, tim={"heads": 2})
    with pytest.raises(ValueError, match="sequences"):
        DTRNBottom(spec, 2, sequences=[], target="item_id")
    with pytest.raises(ValueError, match="'x'"):
        DTRNBottom(spec, 2, sequences=["liked"], target="x")
    with pytest.raises(ValueError, match="'user_id'"):
        DTRNBottom(spec, 2, sequences=["user_id"], target="item_id")
    odd = FeatureSpec(list(spec) + [SequenceFeature("tags", 3, D + 1, "int64", vocabulary=(1, 2))])
    with pytest.raises(ValueError, match="'tags'"):
        DTRNBottom(odd, 2, sequences=["tags"], target="item_id")
