"""ESCM²: the counterfactual risks against numpy, their stop-gradients, the model's loss,
.keras round trip, export parity, a short fit, argument errors and the registry path."""

import keras
import numpy as np
import pytest

from tfmtl.data import load_funnel
from tfmtl.losses_counterfactual import dr_risk, imputation_loss, ips_risk
from tfmtl.models import registry
from tfmtl.models.escm2 import ESCM2Model, build_escm2
from tfmtl.tasks import Task
from tfmtl.training import compile_multitask, fit

TINY = dict(risk="dr", imputation_units=[4], propensity_clip=0.05)
TF = keras.backend.backend() == "tensorflow"


@pytest.fixture(scope="module")
def data():
    return load_funnel(rows=2_000, seed=0)


def _small(tasks):
    return [Task(**{**t.to_config(), "tower_units": [4]}) for t in tasks]


def _batch(data, rows=256):
    split = data["train"]
    x = {k: v[:rows] for k, v in split.features.items()}
    return x, {k: v[:rows] for k, v in split.labels.items()}


# -- numpy references, written from the formulas, independent of keras.ops ---------------
def _ce(r, q):
    q = np.clip(q, 1e-7, 1 - 1e-7)
    return -(r * np.log(q) + (1 - r) * np.log(1 - q))


def _parts(click, conversion, p_ctr, p_cvr, clip):
    space = np.isfinite(click)
    o = space & (np.nan_to_num(click) == 1) & np.isfinite(conversion)
    r = np.where(o, np.nan_to_num(conversion), 0.0)
    p = np.clip(p_ctr, clip, 1.0)
    return space, o, r, p


def np_ips(click, conversion, p_ctr, p_cvr, clip=0.05):
    space, o, r, p = _parts(click, conversion, p_ctr, p_cvr, clip)
    return np.sum(np.where(o, _ce(r, p_cvr) / p, 0.0)) / space.sum()


def np_dr(click, conversion, p_ctr, p_cvr, imputed, clip=0.05):
    space, o, r, p = _parts(click, conversion, p_ctr, p_cvr, clip)
    e, e_hat = _ce(r, p_cvr), _ce(imputed, p_cvr)
    terms = e_hat + np.where(o, (e - e_hat) / p, 0.0)
    return np.sum(np.where(space, terms, 0.0)) / space.sum()


def np_imputation(click, conversion, p_ctr, p_cvr, imputed, clip=0.05):
    space, o, r, p = _parts(click, conversion, p_ctr, p_cvr, clip)
    gap = _ce(r, p_cvr) - _ce(imputed, p_cvr)
    return np.sum(np.where(o, gap**2 / p, 0.0)) / space.sum()


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    n = 64
    click = (rng.random(n) < 0.3).astype("float32")
    conversion = np.where(click == 1, (rng.random(n) < 0.4), np.nan).astype("float32")
    click[:3] = np.nan  # outside the entire space (missing click label)
    p_ctr = rng.uniform(0.01, 0.9, n).astype("float32")  # some below the clip
    p_cvr = rng.uniform(0.05, 0.95, n).astype("float32")
    imputed = rng.uniform(0.05, 0.95, n).astype("float32")
    return click, conversion, p_ctr, p_cvr, imputed


def test_risks_match_numpy_references(batch):
    click, conversion, p_ctr, p_cvr, imputed = batch
    for clip in (0.05, 0.2):
        np.testing.assert_allclose(
            float(ips_risk(click, conversion, p_ctr, p_cvr, clip)),
            np_ips(click, conversion, p_ctr, p_cvr, clip),
            rtol=1e-5,
        )
        np.testing.assert_allclose(
            float(dr_risk(click, conversion, p_ctr, p_cvr, imputed, clip)),
            np_dr(click, conversion, p_ctr, p_cvr, imputed, clip),
            rtol=1e-5,
        )
        np.testing.assert_allclose(
            float(imputation_loss(click, conversion, p_ctr, p_cvr, imputed, clip)),
            np_imputation(click, conversion, p_ctr, p_cvr, imputed, clip),
            rtol=1e-5,
        )


def _grad(fn, args, wrt: int):
    """d fn(*args) / d args[wrt], on the running backend."""
    if keras.backend.backend() == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: fn(*args[:wrt], v, *args[wrt + 1 :]))(args[wrt]))
    import tensorflow as tf

    v = tf.Variable(args[wrt])
    with tf.GradientTape() as tape:
        value = fn(*args[:wrt], v, *args[wrt + 1 :])
    return tape.gradient(value, v, unconnected_gradients=tf.UnconnectedGradients.ZERO).numpy()


def test_ips_gradient_stops_at_the_propensity(batch):
    click, conversion, p_ctr, p_cvr, _ = batch
    args = [click, conversion, p_ctr, p_cvr]
    np.testing.assert_array_equal(_grad(ips_risk, args, 2), 0.0)  # pCTR: a constant weight
    # d/dq [o CE(r, q) / p] / |D| = o (q - r) / (q (1 - q) p |D|)
    space, o, r, p = _parts(click, conversion, p_ctr, p_cvr, 0.05)
    want = np.where(o, (p_cvr - r) / (p_cvr * (1 - p_cvr) * p), 0.0) / space.sum()
    np.testing.assert_allclose(_grad(ips_risk, args, 3), want, rtol=1e-4, atol=1e-7)


def test_dr_trains_the_cvr_tower_and_the_imputation_loss_the_imputation_tower(batch):
    args = list(batch)
    np.testing.assert_array_equal(_grad(dr_risk, args, 2), 0.0)  # propensity
    np.testing.assert_array_equal(_grad(dr_risk, args, 4), 0.0)  # r̃ is held in R_DR
    np.testing.assert_array_equal(_grad(imputation_loss, args, 3), 0.0)  # pCVR held in L_IMP
    # unclicked impressions reach the CVR tower through ê = CE(r̃, pCVR)
    unclicked = np.nan_to_num(batch[0], nan=1.0) == 0
    assert np.abs(_grad(dr_risk, args, 3)[unclicked]).max() > 0
    assert np.abs(_grad(imputation_loss, args, 4)).max() > 0


@pytest.mark.parametrize("risk", ["dr", "ips"])
def test_compute_loss_is_the_numpy_sum_of_its_parts(data, risk):
    model = build_escm2(
        data.spec, _small(data.tasks), risk=risk, counterfactual_weight=0.7, ctcvr_loss_weight=0.5,
        imputation_units=[4],
    )  # fmt: skip
    compile_multitask(model, jit_compile=False)
    x, y = _batch(data)
    pred = {k: np.asarray(v) for k, v in model(x).items()}
    got = float(model.compute_loss(x, y, model(x), training=False))
    click, conversion, p_ctr, p_cvr = y["ctr"], y["cvr"], pred["ctr"], pred["cvr"]
    want = np.mean(_ce(click, p_ctr)) + 0.5 * np.mean(_ce(y["ctcvr"], pred["ctcvr"]))
    if risk == "ips":
        want += 0.7 * np_ips(click, conversion, p_ctr, p_cvr)
    else:
        imputed = np.asarray(model.imputation(model.get_layer("features")(x)))
        want += 0.7 * (
            np_dr(click, conversion, p_ctr, p_cvr, imputed)
            + np_imputation(click, conversion, p_ctr, p_cvr, imputed)
        )
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_keras_round_trip_keeps_the_loss_settings(data, tmp_path):
    model = build_escm2(
        data.spec, _small(data.tasks), risk="dr", counterfactual_weight=0.3, propensity_clip=0.1,
        imputation_units=[3],
    )  # fmt: skip
    compile_multitask(model, jit_compile=False)
    x, y = _batch(data, 64)
    model.save(tmp_path / "escm2.keras")
    again = keras.saving.load_model(tmp_path / "escm2.keras")
    assert isinstance(again, ESCM2Model)
    settings = ("risk", "counterfactual_weight", "propensity_clip", "imputation_units")
    assert {k: again.get_config()[k] for k in settings} == {
        "risk": "dr",
        "counterfactual_weight": 0.3,
        "propensity_clip": 0.1,
        "imputation_units": [3],
    }
    want, got = model(x), again(x)
    for k in ("ctr", "cvr", "ctcvr"):
        np.testing.assert_allclose(np.asarray(got[k]), np.asarray(want[k]), atol=1e-6)
    np.testing.assert_allclose(
        float(again.compute_loss(x, y, got, training=False)),
        float(model.compute_loss(x, y, want, training=False)),
        rtol=1e-5,
    )


@pytest.mark.skipif(not TF, reason="export runs on the TensorFlow backend")
def test_export_serves_the_keras_numbers(data, tmp_path):
    import tensorflow as tf

    from tfmtl.export import export_saved_model

    model = build_escm2(data.spec, _small(data.tasks), imputation_units=[4])
    path = export_saved_model(model, tmp_path, "escm2")
    x, _ = _batch(data, 32)
    served = tf.saved_model.load(str(path)).signatures["serving_default"](
        **{k: tf.constant(v) for k, v in x.items()}
    )
    want = model.predict(x, verbose=0)
    assert set(served) == {"ctr", "cvr", "ctcvr"}  # the imputation tower is not served
    for k in served:
        np.testing.assert_allclose(served[k].numpy(), np.reshape(want[k], -1), atol=1e-5)


def test_fit_on_the_funnel_is_finite_and_lowers_the_loss(data):
    keras.utils.set_random_seed(0)
    model = build_escm2(data.spec, _small(data.tasks), risk="dr", imputation_units=[4])
    compile_multitask(model, learning_rate=1e-2)
    history = fit(model, data, epochs=3, batch_size=256, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_bad_arguments_raise_one_line_errors(data):
    tasks = _small(data.tasks)
    with pytest.raises(ValueError, match=r"^build_escm2: risk must be one of 'dr', 'ips'\. "):
        build_escm2(data.spec, tasks, risk="snips")
    with pytest.raises(ValueError, match="build_escm2 has no option 'imputation_unit'"):
        build_escm2(data.spec, tasks, imputation_unit=[4])
    with pytest.raises(ValueError, match="0 < propensity_clip <= 1. Received"):
        build_escm2(data.spec, tasks, risk="ips", propensity_clip=0.0)
    with pytest.raises(ValueError, match=r"tasks \[ctr, cvr, ctcvr\]"):
        build_escm2(data.spec, tasks[:2])
    try:
        build_escm2(data.spec, tasks, risk="snips")
    except ValueError as error:
        assert "\n" not in str(error)


def test_registry_builds_escm2(data):
    config = {"family": "escm2", "risk": "ips", "imputation_units": [4]}
    config["switcher"] = {"family": "mmoe", "num_experts": 2, "expert_units": [4]}
    model = registry.build(config, data.spec, _small(data.tasks))
    assert isinstance(model, ESCM2Model) and model.risk == "ips"
    assert model.metadata["family"] == "escm2" and sorted(model.output) == ["ctcvr", "ctr", "cvr"]
    with pytest.raises(ValueError, match="model.risk: escm2 has no risk 'snips'"):
        registry.resolve({"family": "escm2", "risk": "snips"})
