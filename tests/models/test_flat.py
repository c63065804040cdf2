import keras
import numpy as np
import pytest

import tfmtl
from tfmtl.data import load_synthetic
from tfmtl.models import available_models, build_flat, build_model, gate_model

DATA = load_synthetic(rows=300)
X = {k: v[:64] for k, v in DATA["train"].features.items()}


@pytest.mark.parametrize(
    "name",
    sorted(
        set(available_models())
        & {"single_task", "shared_bottom", "omoe", "mmoe", "ml_mmoe", "cgc", "ple"}
    ),
)
def test_keras_file_round_trip_gives_identical_predictions(name, tmp_path):
    model = build_model(name, DATA.spec, DATA.tasks)
    before = model.predict(X, verbose=0)
    assert set(before) == {"task_a", "task_b"} and before["task_a"].shape == (64,)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    after = loaded.predict(X, verbose=0)
    for k in before:
        np.testing.assert_allclose(after[k], before[k], atol=1e-6)
    assert [t.to_config() for t in loaded.tasks] == [t.to_config() for t in model.tasks]
    assert loaded.feature_spec == DATA.spec


def test_gate_model_reads_every_gate():
    model = build_model("ple", DATA.spec, DATA.tasks)
    gates = gate_model(model).predict(X, verbose=0)
    assert sorted(gates) == [
        "ple/level_0/shared",
        "ple/level_0/task_0",
        "ple/level_0/task_1",
        "ple/level_1/task_0",
        "ple/level_1/task_1",
    ]
    for w in gates.values():
        np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="has no gated switcher"):
        gate_model(build_model("shared_bottom", DATA.spec, DATA.tasks))


def test_heterogeneous_towers():
    tasks = [
        tfmtl.Task("task_a", "regression", label="y_a", tower_units=(16, 8)),
        tfmtl.Task("task_b", "regression", label="y_b", tower_units=(4,)),
    ]
    model = build_model("mmoe", DATA.spec, tasks)
    assert model.get_layer("tower_task_a").units == [16, 8]
    assert model.get_layer("tower_task_b").units == [4]


def test_switcher_and_task_count_must_agree():
    with pytest.raises(ValueError, match="num_outputs=3; it needs 2 for tasks"):
        build_flat(DATA.spec, DATA.tasks, tfmtl.layers.MMoE(3, 2, [4]))
    with pytest.raises(TypeError, match="needs a tfmtl Switcher"):
        build_flat(DATA.spec, DATA.tasks, keras.layers.Dense(3))
