"""build_pepnet: heads per task kind, ablations, feature errors, `.keras`, export parity, fit,
the registry path."""

import dataclasses
from pathlib import Path

import keras
import numpy as np
import pytest

from tfmtl.data import load_funnel
from tfmtl.layers.pepnet import EPNet
from tfmtl.layers.ppnet import PPNetTower
from tfmtl.layers.towers import Tower
from tfmtl.models import registry
from tfmtl.models.pepnet import PEPNET_VARIANTS, PEPNetGates, build_pepnet, build_pepnet_family
from tfmtl.tasks import Task

TINY_HP = {"gate_units": 4, "prior_features": ["user_id", "item_id"]}
DEFAULTS = dict(
    domain_features=None,
    prior_features=None,
    gate_units=64,
    tower_dropout=0.0,
    epnet=True,
    ppnet=True,
)


@pytest.fixture(scope="module")
def funnel():
    data = load_funnel(rows=400, seed=0, embedding_dim=4)
    tasks = [dataclasses.replace(t, tower_units=(8, 4)) for t in data.tasks]
    return dataclasses.replace(data, tasks=tasks)


def _x(data, n=16):
    return {k: v[:n] for k, v in data.splits["test"].features.items()}


def _predict(model, columns):
    out = model.predict(columns, verbose=0)
    return {k: np.asarray(v, np.float32).reshape(-1) for k, v in out.items()}


def _model(data, variant="pepnet", tasks=None, **options):
    epnet, ppnet = PEPNET_VARIANTS[variant]
    options = {"gate_units": 4, "domain_features": ("device",), **options}
    gates = PEPNetGates(**options, epnet=epnet, ppnet=ppnet)
    return build_pepnet(data.spec, tasks or data.tasks, gates)


def test_heads_match_the_task_kinds(funnel):
    tasks = [funnel.tasks[0], Task("price", kind="regression", tower_units=(4,))]
    model = _model(funnel, tasks=tasks)
    preds = _predict(model, _x(funnel))
    assert sorted(preds) == ["ctr", "price"] and preds["ctr"].shape == (16,)
    assert ((preds["ctr"] > 0) & (preds["ctr"] < 1)).all() and np.isfinite(preds["price"]).all()
    assert model.get_layer("tower_price").units == [4]
    assert model.get_layer("tower_ctr").kind == "binary"
    pepnet = model.metadata["pepnet"]
    assert pepnet["domain_features"] == ["device"]
    cats = [f.name for f in funnel.spec if f.kind == "categorical"]
    assert pepnet["prior_features"] == cats  # None: every categorical feature, in spec order


def test_ablation_flags_change_the_graph(funnel):
    sizes = {}
    for variant, (epnet, ppnet) in PEPNET_VARIANTS.items():
        model = _model(funnel, variant)
        names = {layer.name for layer in model.layers}
        assert ("epnet" in names) == epnet and ("domain_features" in names) == epnet
        assert ("prior_features" in names) == ppnet
        tower = model.get_layer("tower_ctr")
        assert type(tower) is (PPNetTower if ppnet else Tower)
        assert model.name == variant == model.metadata["variant"]
        reads = tower.input[0] if ppnet else tower.input  # PPNetTower reads [x, prior]
        source = model.get_layer("epnet" if epnet else "features").output
        assert reads is source  # with EPNet the towers read O_ep, else the embedding block
        sizes[variant] = model.count_params()
    assert len(set(sizes.values())) == 4 and sizes["plain"] == min(sizes.values())


def test_unknown_or_empty_features_name_the_hyper_parameter(funnel):
    spec, tasks = funnel.spec, funnel.tasks
    with pytest.raises(ValueError, match="^domain_features: no feature 'country' in the embed"):
        build_pepnet(spec, tasks, PEPNetGates(domain_features=("device", "country")))
    with pytest.raises(ValueError, match="^prior_features: no feature 'author_id' .*user_id"):
        build_pepnet(spec, tasks, PEPNetGates(prior_features=["author_id"]))
    with pytest.raises(ValueError, match="^prior_features: empty; name at least one of"):
        build_pepnet(spec, tasks, PEPNetGates(prior_features=[]))
    dense = dataclasses.replace(funnel, spec=type(spec)([spec["position"], spec["item_price"]]))
    with pytest.raises(ValueError, match="^domain_features: the spec has no categorical"):
        build_pepnet(dense.spec, tasks)
    message = "x"
    try:
        build_pepnet(spec, tasks, PEPNetGates(domain_features=["nope"]))
    except ValueError as error:
        message = str(error)
    assert "\n" not in message and "'nope'" in message  # one line


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="uses tf.GradientTape")
def test_gates_send_no_gradient_into_the_main_path(funnel):
    import tensorflow as tf

    model = _model(funnel, prior_features=["user_id"])  # domain: device; hour feeds neither
    x = {k: tf.constant(v) for k, v in _x(funnel).items()}
    features, epnet, tower = (model.get_layer(n) for n in ("features", "epnet", "tower_ctr"))
    table = {n: features.tables[n].embeddings for n in ("hour", "device", "user_id")}
    with tf.GradientTape(persistent=True) as tape:
        embedding = features(x)
        domain = model.get_layer("domain_features")(embedding)
        o_ep, delta = epnet([embedding, domain], return_gates=True)
        _, gates = tower([o_ep, model.get_layer("prior_features")(embedding)], return_gates=True)
        domain_gate, task_gates = tf.reduce_sum(delta), tf.add_n([tf.reduce_sum(g) for g in gates])
        main = tf.reduce_sum(o_ep)

    def norm(target, source):
        grad = tape.gradient(target, source)
        return 0.0 if grad is None else float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(grad))))

    # Through the gates (eq 3, eq 6) only the domain / prior embeddings learn ...
    assert norm(domain_gate, table["hour"]) == 0.0 and norm(domain_gate, table["device"]) > 0
    assert norm(task_gates, table["hour"]) == 0.0 and norm(task_gates, table["user_id"]) > 0
    assert norm(task_gates, epnet.gate.out.kernel) == 0.0  # O_ep enters PPNet under ∅
    # ... while the main path (eq 4) carries the gradient to every embedding.
    assert norm(main, table["hour"]) > 0


def test_keras_file_round_trip(funnel, tmp_path):
    model = _model(funnel)
    model.save(tmp_path / "pepnet.keras")
    loaded = keras.saving.load_model(tmp_path / "pepnet.keras")
    x = _x(funnel)
    for k, v in _predict(model, x).items():
        np.testing.assert_allclose(_predict(loaded, x)[k], v, atol=1e-6)
    assert loaded.metadata["pepnet"] == model.metadata["pepnet"]
    assert isinstance(loaded.get_layer("epnet"), EPNet)


def test_export_parity(funnel, tmp_path):
    import tensorflow as tf

    from tfmtl.export import export_saved_model

    model = _model(funnel)
    path = export_saved_model(model, tmp_path, "pepnet")
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    spec, x = model.feature_spec, _x(funnel)
    out = serve(**{k: tf.constant(np.asarray(v), dtype=spec.input_dtype(k)) for k, v in x.items()})
    for k, v in _predict(model, x).items():
        np.testing.assert_allclose(out[k].numpy().reshape(-1), v, atol=1e-5)


def test_fit_is_finite_and_trains_the_gates(funnel):
    from tfmtl.training import compile_multitask, fit

    model = _model(funnel)
    compile_multitask(model, learning_rate=1e-2, jit_compile=False, run_eagerly=True)
    gate = model.get_layer("epnet").gate.out.kernel
    before = np.asarray(gate).copy()
    history = fit(model, funnel, epochs=1, batch_size=128, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert np.abs(np.asarray(gate) - before).max() > 0  # the losses reach EPNet's gate


def test_registry_builds_the_family(funnel):
    config = {"family": "pepnet", **TINY_HP, "ppnet": False}
    assert registry.resolve(config) == {"family": "pepnet", **DEFAULTS, **TINY_HP, "ppnet": False}
    model = registry.build(config, funnel.spec, funnel.tasks)
    assert model.metadata["family"] == "pepnet" and model.metadata["variant"] == "epnet"
    assert type(model.get_layer("tower_ctr")) is Tower
    with pytest.raises(ValueError, match="model.gate_unit: pepnet has no hyper-parameter"):
        registry.resolve({"family": "pepnet", "gate_unit": 4})
    direct = build_pepnet_family(funnel.spec, funnel.tasks, **{**DEFAULTS, **TINY_HP})
    assert direct.metadata["hparams"]["gate_units"] == 4 and direct.name == "pepnet"


def test_example_config_resolves_and_builds(funnel):
    import yaml

    path = Path(__file__).resolve().parents[2] / "examples/configs/families/pepnet.yaml"
    config = yaml.safe_load(path.read_text())
    assert config["data"]["dataset"] == "funnel"
    model = registry.build(config["model"], funnel.spec, funnel.tasks)
    assert model.metadata["pepnet"]["domain_features"] == ["user_segment", "device"]
    assert model.metadata["pepnet"]["prior_features"] == ["user_id", "item_id"]
