"""build_esmm / build_aitm: heads, entire-space products, loss set-up, training, .keras
round trips."""

import keras
import numpy as np
import pytest

from tfmtl.data.funnel import load_funnel, select_tasks
from tfmtl.models import build_aitm, build_esmm, make_switcher
from tfmtl.tasks import Task
from tfmtl.training import compile_multitask, fit


@pytest.fixture(scope="module")
def data():
    return load_funnel(rows=1_500, seed=0)


def _small(tasks):
    return [Task(**{**t.to_config(), "tower_units": [4]}) for t in tasks]


def test_esmm_ctcvr_is_ctr_times_cvr_and_round_trips(data, tmp_path):
    model = build_esmm(data.spec, _small(data.tasks))
    assert [t.loss_weight for t in model.tasks] == [
        1.0,
        0.0,
        1.0,
    ]  # CVR learns through the product only
    compile_multitask(model, learning_rate=1e-2, jit_compile=False, run_eagerly=True)
    fit(model, data, epochs=1, batch_size=256, verbose=0)
    x = {k: v[:64] for k, v in data["test"].features.items()}
    p = {k: np.asarray(v) for k, v in model(x).items()}
    np.testing.assert_allclose(p["ctcvr"], p["ctr"] * p["cvr"], atol=1e-6)
    model.save(tmp_path / "esmm.keras")
    again = keras.saving.load_model(tmp_path / "esmm.keras")(x)
    assert again.keys() == {"ctr", "cvr", "ctcvr"}
    for k in p:
        np.testing.assert_allclose(np.asarray(again[k]), p[k], atol=1e-6)


def test_esmm_naive_variant_and_switcher(data):
    naive = build_esmm(data.spec, _small(data.tasks), loss_weights=(1.0, 1.0, 0.0))
    assert [t.loss_weight for t in naive.tasks] == [1.0, 1.0, 0.0]
    mmoe = build_esmm(
        data.spec,
        _small(data.tasks),
        switcher=make_switcher("mmoe", 2, num_experts=2, expert_units=[4]),
    )
    assert set(mmoe.output) == {"ctr", "cvr", "ctcvr"}


def test_esmm_refuses_a_ctr_task_restricted_to_a_sample_space(data):
    ctr, cvr, ctcvr = data.tasks
    with pytest.raises(ValueError, match="'ctr' has sample_space"):
        build_esmm(data.spec, [Task("ctr", label="click", sample_space="click == 1"), cvr, ctcvr])
    with pytest.raises(ValueError, match="tasks \\[ctr, cvr, ctcvr\\]"):
        build_esmm(data.spec, [ctr, cvr])


def test_aitm_trains_with_the_calibrator_and_round_trips(data, tmp_path):
    ctr, _, ctcvr = _small(data.tasks)
    model = build_aitm(data.spec, [ctr, ctcvr], bottoms=[8], calibrator_weight=0.6)
    compile_multitask(model, learning_rate=1e-2, jit_compile=False, run_eagerly=True)
    history = fit(model, select_tasks(data, ["ctr", "ctcvr"]), epochs=1, batch_size=256, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    x = {k: v[:64] for k, v in data["test"].features.items()}
    calibrator = model.get_layer("calibrator")
    out = model(x)
    penalty = float(calibrator.penalty([out["ctr"], out["ctcvr"]]))
    assert penalty >= 0.0
    model.save(tmp_path / "aitm.keras")
    again = keras.saving.load_model(tmp_path / "aitm.keras")(x)
    for k in out:
        np.testing.assert_allclose(np.asarray(again[k]), np.asarray(out[k]), atol=1e-6)


def test_aitm_calibrator_enters_the_loss(data):
    ctr, _, ctcvr = _small(data.tasks)
    x = {k: v[:128] for k, v in data["test"].features.items()}
    y = {"ctr": np.zeros(128, "float32"), "ctcvr": np.zeros(128, "float32")}
    losses = []
    for weight in (0.0, 100.0):
        keras.utils.set_random_seed(0)
        model = build_aitm(data.spec, [ctr, ctcvr], bottoms=[8], calibrator_weight=weight)
        compile_multitask(model, jit_compile=False, run_eagerly=True)
        out = model(x)
        penalty = float(model.get_layer("calibrator").penalty([out["ctr"], out["ctcvr"]]))
        losses.append((model.evaluate(x, y, verbose=0, return_dict=True)["loss"], penalty))
    (plain, pen0), (weighted, pen1) = losses
    np.testing.assert_allclose(pen0, pen1, rtol=1e-5)
    np.testing.assert_allclose(weighted - plain, 100.0 * pen1, rtol=1e-3, atol=1e-5)
