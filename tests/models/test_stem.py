"""build_stem: T + 1 embedding blocks, AFTB end to end, `.keras`, gates, export, fit, registry."""

import keras
import numpy as np
import pytest

from tfmtl import training
from tfmtl.data.dataset import build_splits, split_indices
from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec
from tfmtl.layers.mmoe import MMoE
from tfmtl.layers.stem import STEM
from tfmtl.models import gate_model, registry
from tfmtl.models.stem import build_stem, build_stem_family
from tfmtl.tasks import Task

TINY = {"num_task_experts": 1, "num_shared_experts": 1, "expert_units": [8]}
TF_ONLY = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="raw string lookups inside the model and SavedModel export need TensorFlow",
)


@pytest.fixture(scope="module")
def data():
    """A tiny click -> purchase funnel: tasks ctr, cvr (clicked rows only), watch."""
    n, rng = 240, np.random.default_rng(0)
    columns = {
        "user_id": np.array([f"u{i}" for i in rng.integers(0, 6, n)], dtype=object),
        "item_id": rng.integers(100, 108, n).astype(np.int64),
        "x": rng.normal(size=n).astype(np.float32),
    }
    signal = columns["x"] + (columns["item_id"] % 2)
    columns["click"] = (signal + rng.normal(size=n) > 0.5).astype(np.float32)
    columns["buy"] = (columns["click"] * (signal > 1.0)).astype(np.float32)
    columns["watch"] = (signal + rng.normal(size=n)).astype(np.float32)
    spec = FeatureSpec(
        [
            CategoricalFeature("user_id", embedding_dim=3),
            CategoricalFeature("item_id", embedding_dim=3, dtype="int64"),
            DenseFeature("x"),
        ]
    )
    tasks = [
        Task("ctr", label="click", tower_units=(4,)),
        Task("cvr", label="buy", sample_space="click == 1", tower_units=(4,)),
        Task("watch", kind="regression", tower_units=(4,)),
    ]
    return build_splits(columns, spec, tasks, split_indices(n, 0), "tiny stem funnel")


def _rows(data, n=16):
    return {k: np.asarray(v)[:n] for k, v in data["test"].features.items()}


def _call(model, x):
    """Eager outputs as numpy (faster than `predict`, which traces a function)."""
    return keras.tree.map_structure(keras.ops.convert_to_numpy, model(x))


def _model(data, lookup=True, seed=0):
    keras.utils.set_random_seed(seed)
    return build_stem(data.spec, data.tasks, STEM(3, **TINY, name="stem"), lookup=lookup)


@TF_ONLY
def test_one_embedding_block_per_task_plus_a_shared_one(data):
    model = _model(data)
    names = ["features_ctr", "features_cvr", "features_watch", "features"]
    blocks = [model.get_layer(n) for n in names]
    assert len({id(b.tables["user_id"].embeddings) for b in blocks}) == 4  # own tables
    assert len({b.output_dim for b in blocks}) == 1  # every block the spec's own width
    assert model.feature_spec.names == data.spec.names
    assert len(model.get_layer("stem").input) == 4  # T task views, then the shared one
    assert model.metadata["hparams"]["expert_units"] == [8]
    assert sorted(_call(model, _rows(data))) == ["ctr", "cvr", "watch"]


@TF_ONLY
def test_stem_layer_reads_the_blocks_in_task_order(data):
    """The model's STEM outputs are the layer's equations on the blocks' embeddings."""
    model, x = _model(data), _rows(data)
    stem = model.get_layer("stem")
    views = _call(keras.Model(model.input, stem.input), x)
    for view, name in zip(views, ["features_ctr", "features_cvr", "features_watch", "features"]):
        want = keras.ops.convert_to_numpy(model.get_layer(name)(x))
        np.testing.assert_allclose(view, want, atol=1e-6)
    towers = [model.get_layer(f"tower_{t.name}") for t in data.tasks]
    heads = _call(model, x)
    for tower, task, out in zip(towers, data.tasks, stem(list(views))):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(tower(out)), heads[task.name], atol=1e-5
        )


@TF_ONLY
def test_aftb_ctr_loss_never_reaches_the_other_tasks_tables_or_experts(data):
    import tensorflow as tf

    model, x = _model(data), _rows(data)
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x)["ctr"])
    grads = tape.gradient(loss, [v.value for v in variables], unconnected_gradients="zero")
    grads = {v.path: tf.convert_to_tensor(g).numpy() for v, g in zip(variables, grads)}
    for path, g in grads.items():
        if path.startswith(("features_cvr/", "features_watch/", "tower_cvr", "tower_watch")):
            assert np.all(g == 0.0), path
        elif path.startswith("stem/task_experts/"):
            assert np.all(g[1:] == 0.0) and np.any(g[0] != 0.0), path  # expert j is task j's
        elif path.startswith(("stem/gate_1", "stem/gate_2")):
            assert np.all(g == 0.0), path
    for block in ("features_ctr", "features"):
        assert np.any(grads[f"{block}/embedding_user_id/embeddings"] != 0.0), block


@TF_ONLY
def test_aftb_other_tasks_experts_still_move_ctr_forward(data):
    model, x = _model(data), _rows(data)
    before = _call(model, x)["ctr"]
    kernel = model.get_layer("stem").task_experts.kernels[0]
    value = keras.ops.convert_to_numpy(kernel).copy()
    value[1] += 1.0  # the cvr expert only
    kernel.assign(value)
    assert not np.allclose(_call(model, x)["ctr"], before, atol=1e-5)


@TF_ONLY
def test_keras_round_trip_and_gate_model(data, tmp_path):
    model, x = _model(data), _rows(data)
    model.save(tmp_path / "stem.keras")
    restored = keras.saving.load_model(tmp_path / "stem.keras")
    want, got = _call(model, x), _call(restored, x)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=1e-6)
    assert restored.metadata["hparams"] == model.metadata["hparams"]
    gates = _call(gate_model(restored), x)
    assert sorted(gates) == ["stem/task_0", "stem/task_1", "stem/task_2"]
    for gate in gates.values():
        assert gate.shape == (16, 3 * 1 + 1)  # every task's expert, then the shared one
        np.testing.assert_allclose(gate.sum(axis=-1), 1.0, atol=1e-5)


@TF_ONLY
def test_export_serves_the_keras_numbers(data, tmp_path):
    import tensorflow as tf

    from export import export_saved_model

    model, x = _model(data), _rows(data)
    rng = np.random.default_rng(0)  # jitter so that different ids give different scores
    model.set_weights([w + rng.normal(scale=0.3, size=w.shape) for w in model.get_weights()])
    path = export_saved_model(model, tmp_path, "stem")
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    served = serve(**{k: tf.constant(v) for k, v in x.items()})
    want = model.predict(x, verbose=0)
    for name in want:
        np.testing.assert_allclose(
            served[name].numpy().reshape(-1), np.asarray(want[name]).reshape(-1), atol=1e-5
        )


@TF_ONLY
def test_fit_is_finite_and_moves_the_embeddings(data):
    model = _model(data)
    table = model.get_layer("features_cvr").tables["item_id"].embeddings
    before = keras.ops.convert_to_numpy(table).copy()
    training.compile_multitask(model, jit_compile=False, run_eagerly=True)
    history = training.fit(model, data, epochs=1, batch_size=128, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(keras.ops.convert_to_numpy(table), before)  # cvr's own loss


def test_encoded_ids_on_every_backend(data):
    model = _model(data, lookup=False)
    out = model.predict(data.spec.encode(_rows(data)), verbose=0)
    assert all(np.all(np.isfinite(v)) and v.shape == (16,) for v in out.values())


@TF_ONLY
def test_registry_builds_the_family(data):
    with pytest.raises(ValueError, match="stem has no hyper-parameter 'heads'; it takes: exp"):
        registry.resolve({"family": "stem", "heads": 4})
    config = {"family": "stem", **TINY, "num_task_experts": 2}
    model = registry.build(config, data.spec, data.tasks)
    assert model.metadata["family"] == "stem"
    assert model.metadata["model_config"]["expert_units"] == [8]
    assert model.get_layer("stem").num_task_experts == 2
    assert model.get_layer("stem").num_experts == 3 * 2 + 1


def test_builder_errors_are_named(data):
    with pytest.raises(TypeError, match="needs a tfmtl.layers.STEM layer.*stem=MMoE"):
        build_stem(data.spec, data.tasks, MMoE(3, num_experts=2, expert_units=[4]))
    with pytest.raises(ValueError, match="has num_outputs=2; it needs 3"):
        build_stem(data.spec, data.tasks, STEM(2, expert_units=[4]), lookup=False)
    with pytest.raises(ValueError, match="num_task_experts >= 1"):
        build_stem_family(data.spec, data.tasks, num_task_experts=0)
