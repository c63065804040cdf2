"""Sparse gates: top-k (Shazeer et al., ICLR'17) and DSelect-k (Hazimeh et al., NeurIPS'21)."""

import json
import zipfile

import keras
import numpy as np
import pytest

from tests.contracts import check_switcher
from tfmtl.layers import CGC, PLE, AdaTT, AdaTTSp, Gate, MLMMoE, MMoE, OMoE
from tfmtl.layers.sparse_gates import gate_options, smooth_step

TOPK = {"kind": "topk", "k": 2}
DSELECT = {"kind": "dselect", "k": 2}


# -- independent numpy references ------------------------------------------------------------
def np_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_topk(z, k):
    """Shazeer eq 3-5: softmax over KeepTopK(z, k), the others at -inf."""
    out = np.zeros_like(z)
    for b, row in enumerate(z):
        keep = np.argsort(-row)[:k]
        out[b, keep] = np_softmax(row[keep])
    return out


def np_cv2(weights):
    """Shazeer eq 6-7: CV(Importance)^2 with Importance = sum over the batch."""
    importance = weights.sum(axis=0)
    return importance.var() / importance.mean() ** 2


def np_smooth_step(t, gamma):
    """DSelect-k eq 4, piecewise as printed."""
    cubic = -2.0 / gamma**3 * t**3 + 3.0 / (2.0 * gamma) * t + 0.5
    return np.where(t <= -gamma / 2, 0.0, np.where(t >= gamma / 2, 1.0, cubic))


def np_dselect(z, n, k, gamma):
    """DSelect-k eq 5-7 row by row: each selector a product over bits, then a softmax mix."""
    m = int(np.ceil(np.log2(n)))
    weights, selectors = np.zeros((len(z), n)), np.zeros((len(z), k, n))
    for b, row in enumerate(z):
        alpha = np_softmax(row[k * m :])
        for i in range(k):
            s = np_smooth_step(row[i * m : (i + 1) * m], gamma)
            codes = [[(code >> j) & 1 for j in range(m)] for code in range(n)]
            r = np.array([np.prod([s[j] if c[j] else 1 - s[j] for j in range(m)]) for c in codes])
            if n < 2**m:  # codes >= n name no expert: mask and renormalise
                r = (r + 1e-7) / (r.sum() + n * 1e-7)
            selectors[b, i] = r
            weights[b] += alpha[i] * r
    return weights, selectors


def np_entropy(selectors):
    return np.mean(-np.sum(selectors * np.log(np.maximum(selectors, 1e-7)), axis=-1))


def _x(rows=16, dim=5, seed=0):
    return np.random.default_rng(seed).normal(size=(rows, dim)).astype("float32")


def _logits(gate, x):
    return x @ np.asarray(gate.kernel) + np.asarray(gate.bias)


# -- the gate kinds against the references ---------------------------------------------------
def test_smooth_step_matches_dselect_eq4():
    t = np.linspace(-1.5, 1.5, 61).astype("float32")
    for gamma in (0.5, 1.0, 2.0):
        got = keras.ops.convert_to_numpy(smooth_step(t, gamma))
        np.testing.assert_allclose(got, np_smooth_step(t, gamma), atol=1e-6)


def test_topk_keeps_exactly_k_experts_and_matches_reference():
    x = _x()
    for k in (1, 2, 3):
        gate = Gate(num_experts=5, kind="topk", k=k, loss_weight=0.5)
        w = keras.ops.convert_to_numpy(gate(x))
        assert gate.logit_width == 5
        np.testing.assert_array_equal((w > 0).sum(axis=1), k)
        np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-6)
        want = np_topk(_logits(gate, x), k)
        np.testing.assert_allclose(w, want, atol=1e-6)
        (loss,) = gate.losses
        np.testing.assert_allclose(keras.ops.convert_to_numpy(loss), 0.5 * np_cv2(want), rtol=1e-4)


def test_topk_with_k_at_least_experts_is_the_softmax_gate():
    x, gate = _x(), Gate(num_experts=3, kind="topk", k=5)
    np.testing.assert_allclose(gate(x), np_softmax(_logits(gate, x)), atol=1e-6)


@pytest.mark.parametrize("num_experts", [4, 5, 8, 2])
def test_dselect_matches_reference(num_experts):
    x, k, gamma = _x(), 2, 1.5
    gate = Gate(num_experts=num_experts, kind="dselect", k=k, gamma=gamma, loss_weight=0.1)
    m = int(np.ceil(np.log2(num_experts)))
    assert gate.logit_width == k * m + k
    w = keras.ops.convert_to_numpy(gate(x))
    want, selectors = np_dselect(_logits(gate, x), num_experts, k, gamma)
    np.testing.assert_allclose(w, want, atol=1e-5)
    assert np.all(w >= 0.0)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-5)
    (loss,) = gate.losses
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loss), 0.1 * np_entropy(selectors), rtol=1e-4
    )


def test_dselect_saturated_selectors_pick_k_experts():
    # Bits far past ±γ/2 make each selector one code (DSelect-k eq 5): experts 2 and 5.
    gate = Gate(num_experts=6, kind="dselect", k=2)
    gate.build((None, 1))
    bits = [-9.0, 9.0, -9.0, 9.0, -9.0, 9.0]  # selector 0: code 010 = 2; selector 1: 101 = 5
    z = np.array([bits + [0.0, 0.0]], "float32")
    w = keras.ops.convert_to_numpy(gate.weights_from_logits(z))
    np.testing.assert_allclose(w, [[0, 0, 0.5, 0, 0, 0.5]], atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gate.losses[0]), 0.0, atol=1e-4)


def test_several_gates_in_one_head_are_each_a_distribution():
    x, gate = _x(), Gate(num_experts=3, kind="topk", k=1, num_gates=4)
    w = keras.ops.convert_to_numpy(gate(x))
    assert w.shape == (16, 4, 3) and gate.compute_output_shape((16, 5)) == (16, 4, 3)
    np.testing.assert_array_equal((w > 0).sum(axis=-1), 1)
    want = np_topk(_logits(gate, x).reshape(-1, 3), 1).reshape(16, 4, 3)
    np.testing.assert_allclose(w, want, atol=1e-6)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="GradientTape")
def test_topk_is_differentiable_through_the_kept_logits_only():
    import tensorflow as tf

    gate = Gate(num_experts=4, kind="topk", k=2, loss_weight=0.0)
    gate.build((None, 1))
    z = tf.constant([[0.1, 2.0, -1.0, 1.0]])
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = tf.reduce_sum(gate.weights_from_logits(z) * tf.constant([[1.0, 2.0, 3.0, 4.0]]))
    grad = tape.gradient(y, z).numpy()
    assert np.all(np.isfinite(grad)) and grad[0, 0] == 0.0 and grad[0, 2] == 0.0
    assert abs(grad[0, 1]) > 1e-3 and abs(grad[0, 3]) > 1e-3


def test_softmax_gate_adds_no_loss_and_keeps_its_config():
    gate = Gate(num_experts=3)
    gate(_x())
    assert gate.losses == []
    restored = Gate.from_config({"name": "g", "num_experts": 3})  # a config saved before
    assert (restored.kind, restored.k, restored.num_gates) == ("softmax", 2, 1)


# -- the switchers ----------------------------------------------------------------------------
FACTORIES = {
    "mmoe": lambda g: MMoE(2, num_experts=3, expert_units=[4], gate=g),
    "omoe": lambda g: OMoE(2, num_experts=3, expert_units=[4], gate=g),
    "ml_mmoe": lambda g: MLMMoE(2, num_experts=3, expert_units=[4], gate=g),
    "cgc": lambda g: CGC(2, 1, 2, [4], gate=g),
    "ple": lambda g: PLE(2, 1, 2, [4], gate=g),
    "adatt": lambda g: AdaTT(2, 1, [4], num_shared_experts=1, gate=g),
    "adatt_sp": lambda g: AdaTTSp(2, [1, 2], [4], gate=g),
}


# Every switcher with both kinds; by default one kind each (OMoE is MMoE's code: none), the
# rest with -m slow.
FAST = {"mmoe": "topk", "ml_mmoe": "dselect", "cgc": "topk"}
FAST.update({"ple": "dselect", "adatt": "topk", "adatt_sp": "dselect"})
CONTRACT_CASES = [
    pytest.param(name, gate, marks=() if FAST.get(name) == gate else pytest.mark.slow)
    for name in sorted(FACTORIES)
    for gate in ("topk", "dselect")
]


@pytest.mark.parametrize("name, gate", CONTRACT_CASES)
def test_gated_switchers_pass_the_contract(name, gate, tmp_path):
    check_switcher(lambda: FACTORIES[name](gate), num_outputs=2, tmp_path=tmp_path)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_auxiliary_losses_reach_model_losses(name):
    inputs = keras.Input(shape=(5,))
    model = keras.Model(
        inputs, FACTORIES[name]({"kind": "topk", "k": 1, "loss_weight": 2.0})(inputs)
    )
    assert model.losses == []
    model(_x())
    assert model.losses and all(np.isfinite(keras.ops.convert_to_numpy(v)) for v in model.losses)
    softmax = keras.Model(inputs, FACTORIES[name]("softmax")(inputs))
    softmax(_x())
    assert softmax.losses == []


def test_mmoe_topk_gates_match_reference():
    x, layer = _x(), MMoE(2, num_experts=4, expert_units=[3], gate={"kind": "topk", "k": 2})
    _, gates = layer(x, return_gates=True)
    for gate, w in zip(layer.gates, gates):
        np.testing.assert_allclose(w, np_topk(_logits(gate, x), 2), atol=1e-6)


def test_gate_dict_survives_config_and_reaches_every_gate():
    layer = PLE(2, 1, 2, [4], num_levels=2, gate={"kind": "dselect", "k": 1, "gamma": 2.0})
    clone = PLE.from_config(json.loads(json.dumps(layer.get_config())))
    assert clone.gate == {"kind": "dselect", "k": 1, "gamma": 2.0}
    clone(_x())
    gates = [g for level in clone.levels for g in level.task_gates + [level.shared_gate] if g]
    assert len(gates) == 5 and all((g.kind, g.k, g.gamma) == ("dselect", 1, 2.0) for g in gates)
    assert MMoE(2, 3, [4]).get_config()["gate"] == "softmax"


def _drop_gate_keys(config):
    if isinstance(config, dict):
        return {k: _drop_gate_keys(v) for k, v in config.items() if k != "gate"}
    if isinstance(config, list):
        return [_drop_gate_keys(v) for v in config]
    return config


@pytest.mark.parametrize("name", ["mmoe", "ml_mmoe", "adatt"])
def test_old_keras_file_without_gate_keys_still_loads(name, tmp_path):
    inputs = keras.Input(shape=(5,), name="x")
    model = keras.Model(inputs, FACTORIES[name]("softmax")(inputs))
    model.save(tmp_path / "new.keras")
    # The same file as written before the gate option existed: no "gate" key anywhere.
    with (
        zipfile.ZipFile(tmp_path / "new.keras") as new,
        zipfile.ZipFile(tmp_path / "old.keras", "w") as old,
    ):
        for item in new.namelist():
            data = new.read(item)
            if item == "config.json":
                data = json.dumps(_drop_gate_keys(json.loads(data))).encode()
            old.writestr(item, data)
    assert b'"gate"' not in zipfile.ZipFile(tmp_path / "old.keras").read("config.json")
    restored = keras.saving.load_model(tmp_path / "old.keras")
    x = _x()
    for got, want in zip(restored(x), model(x)):
        np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: MMoE(2, 3, [4], gate="sparse"), "Unknown gate kind 'sparse'; choose one of"),
        (lambda: PLE(2, 1, 1, [4], gate={"kind": "topk", "k": 0}), "int k >= 1. Received: k=0"),
        (lambda: CGC(2, 1, 1, [4], gate={"kind": "topk", "top": 1}), r"unknown option\(s\)"),
        (lambda: AdaTT(2, 1, [4], gate={"kind": "dselect", "gamma": 0}), "gamma > 0"),
        (lambda: MLMMoE(2, 3, [4], gate={"loss_weight": -1.0}), "loss_weight >= 0"),
        (lambda: Gate(3, num_gates=0), "num_gates >= 1. Received: num_gates=0"),
    ],
)
def test_bad_gate_options_say_what_to_fix(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_gate_of_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="gate must be one of softmax, topk, dselect"):
        gate_options(3)


def test_dselect_entropy_drops_with_training():
    x = _x(rows=64, dim=4, seed=3)
    y = (x[:, :1] - x[:, 1:2]).astype("float32")
    inputs = keras.Input(shape=(4,))
    switcher = MMoE(
        1, num_experts=4, expert_units=[4], gate={"kind": "dselect", "k": 2, "loss_weight": 1.0}
    )
    model = keras.Model(inputs, keras.layers.Dense(1)(switcher(inputs)[0]))
    model(x)
    before = float(keras.ops.convert_to_numpy(model.losses[0]))
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    history = model.fit(x, y, epochs=15, batch_size=64, verbose=0)
    model(x)
    after = float(keras.ops.convert_to_numpy(model.losses[0]))
    assert np.all(np.isfinite(history.history["loss"]))
    assert after < 0.5 * before, (before, after)
    _, (w,) = switcher(x, return_gates=True)
    assert np.mean(np.sum(keras.ops.convert_to_numpy(w) > 0.01, axis=1)) <= 2.5


# -- models: export parity and the registry path ---------------------------------------------
def _tiny_flat(gate):
    from tfmtl.features import DenseFeature, FeatureSpec
    from tfmtl.models.flat import build_flat
    from tfmtl.tasks import Task

    rng = np.random.default_rng(0)
    columns = {f"x{i}": rng.normal(size=40).astype("float32") for i in range(3)}
    spec = FeatureSpec([DenseFeature(name) for name in columns]).adapt(columns)
    tasks = [Task("ctr", tower_units=(4,)), Task("watch", kind="regression", tower_units=(4,))]
    switcher = MMoE(2, num_experts=4, expert_units=[4], gate=gate, name="mmoe")
    return build_flat(spec, tasks, switcher), columns


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="SavedModel export")
def test_mmoe_topk_serving_default_equals_predict(tmp_path):
    import tensorflow as tf

    from tfmtl.export import export_saved_model

    model, columns = _tiny_flat({"kind": "topk", "k": 2})
    want = model.predict(columns, verbose=0)
    path = export_saved_model(model, tmp_path, "m")
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    got = serve(**{k: tf.constant(v) for k, v in columns.items()})
    assert sorted(got) == ["ctr", "watch"]
    for task in want:
        np.testing.assert_allclose(
            got[task].numpy().reshape(-1), np.asarray(want[task]).reshape(-1), atol=1e-5
        )


@pytest.fixture
def sparse_mmoe_registered():
    from tfmtl.models import registry

    registry.register_switcher(
        "mmoe_sparse_test",
        "tfmtl.layers.mmoe:MMoE",
        dict(num_experts=3, expert_units=[4], gate="softmax"),
        choices={"gate": ("softmax", "topk", "dselect")},
    )
    yield registry
    del registry._SWITCHERS["mmoe_sparse_test"]


def test_registry_path_builds_and_checks_the_gate(sparse_mmoe_registered):
    registry = sparse_mmoe_registered
    _, columns = _tiny_flat("softmax")
    model, _ = _tiny_flat("softmax")
    config = {"family": "mmoe_sparse_test", "gate": "dselect"}
    built = registry.build(config, model.feature_spec, model.tasks)
    (switcher,) = [layer for layer in built.layers if isinstance(layer, MMoE)]
    assert switcher.gate == "dselect" and switcher.gates[0].kind == "dselect"
    out = built.predict(columns, verbose=0)
    assert all(np.all(np.isfinite(v)) for v in out.values())
    with pytest.raises(ValueError, match="has no gate 'sparse'; choose one of"):
        registry.resolve({"family": "mmoe_sparse_test", "gate": "sparse"})
