"""Mixed precision: under `mixed_bfloat16` the zoo trains, and heads stay float32."""

import keras
import numpy as np
import pytest

from tfmtl.data import load_synthetic
from tfmtl.models import build_model
from tfmtl.training import compile_multitask, dtype_policy

DATA = load_synthetic(rows=512)
X = {k: v[:256] for k, v in DATA["train"].features.items()}


def test_dtype_policy_restores_the_previous_global_policy():
    with dtype_policy("mixed_bfloat16"):
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
        with pytest.raises(ValueError, match="float8"), dtype_policy("float8"):
            pass
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"


@pytest.mark.parametrize("name", ["shared_bottom", "mmoe", "ple"])
def test_mixed_bfloat16_model_trains_with_float32_weights_and_heads(name, tmp_path):
    with dtype_policy("mixed_bfloat16"):
        reference = build_model(name, DATA.spec, DATA.tasks)
    exact = build_model(name, DATA.spec, DATA.tasks)  # float32, same weights
    exact.set_weights(reference.get_weights())
    assert {w.dtype for w in reference.weights} == {"float32"}
    mixed, full = reference.predict(X, verbose=0), exact.predict(X, verbose=0)
    for task in mixed:
        assert mixed[task].dtype == np.float32, task
        # bfloat16 keeps 8 bits of mantissa: the same network, within its rounding.
        np.testing.assert_allclose(
            mixed[task], full[task], atol=0.05 * np.abs(full[task]).max() + 1e-3
        )
        assert np.abs(mixed[task] - full[task]).max() > 0  # it really computed in bfloat16
    compile_multitask(reference)
    history = reference.fit(
        X,
        {t.name: DATA["train"].labels[t.name][:256] for t in DATA.tasks},
        epochs=3,
        batch_size=64,
        verbose=0,
    )
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    reference.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(
        loaded.predict(X, verbose=0)["task_a"], reference.predict(X, verbose=0)["task_a"]
    )


def test_mixed_bfloat16_model_exports_float32_heads(tmp_path):
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("export runs on the TensorFlow backend")
    from tfmtl.export import export_saved_model

    with dtype_policy("mixed_bfloat16"):
        model = build_model("mmoe", DATA.spec, DATA.tasks)
    path = export_saved_model(model, tmp_path, "mixed")
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    out = serve(**{k: tf.constant(v) for k, v in X.items()})
    expected = model.predict(X, verbose=0)
    for task, scores in out.items():
        assert scores.dtype == tf.float32, task
        np.testing.assert_allclose(
            scores.numpy().reshape(-1), expected[task].reshape(-1), atol=1e-5
        )
