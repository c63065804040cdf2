"""Each issue-6 switcher inside build_flat: trains a step, .keras round trip, gates for AdaTT."""

import keras
import numpy as np
import pytest

from tfmtl.data import load_synthetic
from tfmtl.metrics import expert_utilisation
from tfmtl.models import available_models, build_model, gate_model
from tfmtl.training import compile_multitask, fit

SMALL = {
    "adatt": dict(num_task_experts=2, num_shared_experts=1, expert_units=[[8], [4]]),
    "adatt_sp": dict(num_task_experts=2, expert_units=[[8], [4]]),
    "cross_stitch": dict(units=[8, 4]),
    "sluice": dict(units=[4, 4], orthogonality_weight=0.01),
    "asymmetric": dict(units=[8]),
    "customized": dict(shared_units=[8], task_units=[4]),
}


@pytest.fixture(scope="module")
def data():
    return load_synthetic(rows=300, seed=0)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_switcher_in_flat_builder_round_trips(name, data, tmp_path):
    assert name in available_models()
    model = build_model(name, data.spec, data.tasks, **SMALL[name])
    x = {k: v[:32] for k, v in data["test"].features.items()}
    p = model(x)
    model.save(tmp_path / f"{name}.keras")
    again = keras.saving.load_model(tmp_path / f"{name}.keras")(x)
    for k in p:
        np.testing.assert_allclose(np.asarray(again[k]), np.asarray(p[k]), atol=1e-6)


def test_sluice_penalty_trains_in_fit(data):
    model = build_model("sluice", data.spec, data.tasks, **SMALL["sluice"])
    compile_multitask(model, learning_rate=1e-2, jit_compile=False, run_eagerly=True)
    history = fit(model, data, epochs=1, batch_size=128, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_adatt_gates_for_utilisation(data):
    model = build_model("adatt", data.spec, data.tasks, **SMALL["adatt"])
    x = {k: v[:32] for k, v in data["test"].features.items()}
    gates = gate_model(model).predict(x, verbose=0)
    assert sorted(gates) == sorted(f"adatt/{n}" for n in model.get_layer("adatt").gate_names)
    for g in gates.values():
        np.testing.assert_allclose(g.sum(axis=1), 1.0, atol=1e-5)
    util = expert_utilisation(gates)
    assert (
        len(util["adatt/level_0/task_0"]["mean"]) == 2 * 2 + 1
    )  # every task's experts + the shared one
