"""build_dml / build_dml_model: any zoo backbone + DML, trained, saved and loaded."""

import keras
import numpy as np
import pytest

from tfmtl.data import load_synthetic
from tfmtl.layers import DMLTowers, MMoE
from tfmtl.models import DML_VARIANTS, build_dml, build_dml_model, build_model, gate_model
from tfmtl.tasks import Task
from tfmtl.training import compile_multitask, fit, predict, set_seed

BACKBONES = {
    "shared_bottom": {"units": [8]},
    "mmoe": {"num_experts": 3, "expert_units": [8]},
    "ple": {"num_task_experts": 1, "num_shared_experts": 1, "expert_units": [[8], [8]]},
}


@pytest.fixture(scope="module")
def data():
    d = load_synthetic(rows=240, dim=4, seed=0)
    d.tasks = [Task(t.name, kind=t.kind, label=t.label, tower_units=(6, 5)) for t in d.tasks]
    return d


def _batch(data, split="test", n=16):
    return {k: v[:n] for k, v in data[split].features.items()}


def test_dml_trains(data):
    set_seed(0)
    model = build_dml_model("mmoe", data.spec, data.tasks, variant="dml", **BACKBONES["mmoe"])
    compile_multitask(model, jit_compile=False)
    before = [w.copy() for w in model.get_weights()]
    history = fit(model, data, epochs=1, batch_size=64, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert all(
        not np.array_equal(a, b) for a, b in zip(before, model.get_weights())
    )  # every weight learns


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_every_backbone_round_trips(data, backbone, tmp_path):
    set_seed(0)
    model = build_dml_model(backbone, data.spec, data.tasks, variant="dml", **BACKBONES[backbone])
    assert any(isinstance(layer, DMLTowers) for layer in model.layers)
    path = tmp_path / f"{backbone}_dml.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = _batch(data)
    want, got = model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=1e-6)
    assert (
        loaded.metadata["variant"] == "dml"
        and loaded.metadata["dml"]["ctfm"]["stop_gradient"] == "all"
    )
    assert [t.name for t in loaded.tasks] == [t.name for t in data.tasks]


def test_variants_switch_the_towers(data):
    towers = {}
    for variant in DML_VARIANTS:
        model = build_dml_model("mmoe", data.spec, data.tasks, variant=variant, **BACKBONES["mmoe"])
        found = [layer for layer in model.layers if isinstance(layer, DMLTowers)]
        towers[variant] = (
            (found[0].ctfm, found[0].gkd, (found[0].ctfm_options or {}).get("stop_gradient"))
            if found
            else None
        )
    assert towers == {
        "plain": None,
        "ctfm": (True, False, "all"),
        "gkd": (False, True, None),
        "dml_v0": (True, True, "none"),
        "dml": (True, True, "all"),
    }


def test_plain_variant_is_the_zoo_model(data):
    set_seed(1)
    a = build_dml_model("mmoe", data.spec, data.tasks, variant="plain", **BACKBONES["mmoe"])
    b = build_model("mmoe", data.spec, data.tasks, **BACKBONES["mmoe"])
    b.set_weights(a.get_weights())
    x = _batch(data)
    for name, p in a.predict(x, verbose=0).items():
        np.testing.assert_allclose(p, b.predict(x, verbose=0)[name], atol=1e-6)


def test_build_dml_takes_tower_options_and_keeps_the_gates(data):
    towers = {"ctfm": {"stop_gradient": "others"}, "gkd": {"units": [6]}}
    model = build_dml(data.spec, data.tasks, MMoE(2, 2, [8], name="mmoe"), towers)
    out = predict(model, data, "validation")
    assert sorted(out) == ["task_a", "task_b"] and all(np.isfinite(v).all() for v in out.values())
    assert model.get_layer("dml_towers").ctfm_options["stop_gradient"] == "others"
    assert sorted(gate_model(model).output) == ["mmoe/task_0", "mmoe/task_1"]
    with pytest.raises(ValueError, match="DMLTowers: unknown gkd option"):
        build_dml(data.spec, data.tasks, MMoE(2, 2, [8]), {"gkd": {"unit": [6]}})


def test_errors_name_the_culprit(data):
    with pytest.raises(ValueError, match="num_outputs=3; it needs 2 for tasks"):
        build_dml(data.spec, data.tasks, MMoE(3, 2, [8]))
    with pytest.raises(TypeError, match="build_dml needs a tfmtl Switcher; got Dense"):
        build_dml(data.spec, data.tasks, keras.layers.Dense(3))
    with pytest.raises(ValueError, match="variant='dml_v2'"):
        build_dml_model("mmoe", data.spec, data.tasks, variant="dml_v2")


def test_export_parity(data, tmp_path):
    import tensorflow as tf

    from tfmtl.export import export_saved_model

    set_seed(2)
    model = build_dml_model("ple", data.spec, data.tasks, variant="dml", **BACKBONES["ple"])
    path = export_saved_model(model, tmp_path, "ple_dml")
    x = _batch(data, n=32)
    served = tf.saved_model.load(str(path)).signatures["serving_default"](
        **{k: tf.constant(v) for k, v in x.items()}
    )
    for name, want in model.predict(x, verbose=0).items():
        np.testing.assert_allclose(served[name].numpy(), np.asarray(want).reshape(-1), atol=1e-5)
