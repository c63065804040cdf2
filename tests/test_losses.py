import numpy as np
import pytest

import tfmtl
from tfmtl.callbacks import LossWeightSchedule
from tfmtl.losses import MaskedLoss
from tfmtl.training import compile_multitask


def test_masked_bce_averages_over_the_sample_space_only():
    y = np.array([1.0, np.nan, 0.0, np.nan, 1.0], "float32")
    p = np.array([0.9, 0.1, 0.2, 0.7, 0.6], "float32")
    keep = ~np.isnan(y)
    expect = -np.mean(y[keep] * np.log(p[keep]) + (1 - y[keep]) * np.log(1 - p[keep]))
    assert float(MaskedLoss("binary")(y, p)) == pytest.approx(expect, rel=1e-5)


def test_masked_mse_and_weight():
    y = np.array([1.0, np.nan, 3.0], "float32")
    p = np.array([0.0, 100.0, 5.0], "float32")
    assert float(MaskedLoss("regression", weight=0.5)(y, p)) == pytest.approx(
        0.5 * (1 + 4) / 2, rel=1e-6
    )


def test_masked_sample_changes_no_loss():
    y = np.array([1.0, np.nan], "float32")
    a = float(MaskedLoss("binary")(y, np.array([0.7, 0.1], "float32")))
    b = float(MaskedLoss("binary")(y, np.array([0.7, 0.9], "float32")))
    assert a == b


def test_all_masked_batch_gives_zero_not_nan():
    assert (
        float(MaskedLoss("binary")(np.full(3, np.nan, "float32"), np.full(3, 0.5, "float32")))
        == 0.0
    )


def _tiny_model():
    spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x")]).adapt({"x": np.arange(8.0)})
    tasks = [
        tfmtl.Task("a", kind="regression", loss_weight=1.0, decay=0.5),
        tfmtl.Task("b", kind="regression"),
    ]
    return tfmtl.models.build_model("shared_bottom", spec, tasks, units=[4]), tasks


def test_eq10_schedule_changes_the_trained_loss_weights():
    model, tasks = _tiny_model()
    compile_multitask(model, learning_rate=0.0)  # weights frozen: losses differ only by ω
    x = {"x": np.arange(8.0, dtype="float32")}
    y = {"a": np.ones(8, "float32"), "b": np.ones(8, "float32")}
    schedule = LossWeightSchedule(tasks)
    h = model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[schedule], shuffle=False)
    assert [w["a"] for w in schedule.history] == [1.0, 0.5, 0.25]
    a = np.array(h.history["a_loss"])
    np.testing.assert_allclose(a / a[0], [1.0, 0.5, 0.25], rtol=1e-4)
    np.testing.assert_allclose(h.history["b_loss"], h.history["b_loss"][0], rtol=1e-5)
