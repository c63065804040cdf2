"""Plots of a trained model: PNG files, and gate weights equal to the gate model's own."""

import json

import keras
import numpy as np
import pytest

from tfmtl import training
from tfmtl.data.synthetic import load_synthetic
from tfmtl.metrics import expert_utilisation
from tfmtl.models.flat import gate_model
from tfmtl.models.registry import build

pytest.importorskip("matplotlib")
PNG = b"\x89PNG\r\n\x1a\n"


def test_plots_are_pngs_and_show_the_models_gates(tmp_path):
    from tfmtl.plots import gate_weights, write_plots

    data = load_synthetic(rows=600)
    model = build({"family": "mmoe", "num_experts": 3, "expert_units": [8]}, data.spec, data.tasks)
    training.compile_multitask(model)
    history = training.fit(model, data, epochs=2, batch_size=128, verbose=0).history
    paths = write_plots(model, data, "test", tmp_path, history=history)
    assert sorted(p.name for p in paths) == ["curves.png", "expert_utilisation.png", "gate_distributions.png"]
    for p in paths:
        assert p.read_bytes()[:8] == PNG and p.stat().st_size > 2000
    # the gates drawn are those of the trained weights: compare with a gated model built directly
    gated = build(model.metadata["model_config"], data.spec, data.tasks, return_gates=True)
    gated.set_weights(model.get_weights())
    x = {k: keras.ops.convert_to_tensor(v) for k, v in data["test"].features.items()}
    direct = {k: np.asarray(v) for k, v in gate_model(gated)(x).items()}
    drawn = gate_weights(model, data["test"].features)
    assert sorted(drawn) == sorted(direct) and len(drawn) == 2
    for k in direct:
        np.testing.assert_allclose(drawn[k], direct[k], rtol=1e-5, atol=1e-6)
    util = expert_utilisation(drawn)
    assert all(abs(sum(u["mean"]) - 1) < 1e-5 for u in util.values())


def test_models_without_gates_get_curves_only(tmp_path):
    from tfmtl.plots import write_plots

    data = load_synthetic(rows=300)
    model = build({"family": "shared_bottom", "units": [8]}, data.spec, data.tasks)
    history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.6], "val_task_a_mse": [1.0, 0.7]}
    assert [p.name for p in write_plots(model, data, "test", tmp_path, history=json.loads(json.dumps(history)))] == [
        "curves.png"]
