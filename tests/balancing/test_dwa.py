"""DynamicWeightAverage: Liu et al. eq 1 against numpy, errors, a fit, a resume, .keras, JAX."""

from pathlib import Path

import keras
import numpy as np
import pytest

from tests.balancing.common import jax_fit, needs_jax
from tfmtl import training
from tfmtl.balancing import make_balancer
from tfmtl.balancing.dwa import DynamicWeightAverage
from tfmtl.data.demo import load_demo
from tfmtl.models.zoo import build_model

ROOT = Path(__file__).resolve().parents[2]
TASKS = ["click", "finish", "watch_time"]
OMEGA = {"click": 1.0, "finish": 1.0, "watch_time": 0.2}  # the demo tasks' loss_weight ω_k


def eq_1(before, after, temperature):
    """Liu et al. eq 1 written out: K · exp(r_k / T) / Σ_i exp(r_i / T), r_k = after_k / before_k.

    Args:
        before, after: K epoch-mean losses, epochs t-2 and t-1.
        temperature: T.
    """
    r = np.asarray(after, np.float64) / np.asarray(before, np.float64)
    e = np.exp(r / temperature)
    return len(r) * e / e.sum()


def _weights(balancer):
    return np.array([float(keras.ops.convert_to_numpy(w)) for w in balancer.loss_weights()])


def test_weights_follow_eq_1_from_the_last_two_epochs():
    losses = [[0.9, 0.7, 3.0], [0.6, 0.65, 2.0], [0.5, 0.64, 1.0]]
    balancer = DynamicWeightAverage(TASKS, temperature=1.5)
    np.testing.assert_allclose(_weights(balancer), 1.0)
    balancer.end_epoch(0, dict(zip([f"{t}_loss" for t in TASKS], losses[0])))
    np.testing.assert_allclose(_weights(balancer), 1.0)  # w(1) = 1: one epoch gives no ratio
    balancer.end_epoch(1, dict(zip([f"{t}_loss" for t in TASKS], losses[1])))
    want = eq_1(losses[0], losses[1], 1.5)
    np.testing.assert_allclose(_weights(balancer), want, rtol=1e-6)
    assert np.argmax(want) == 1 and want.sum() == pytest.approx(3.0)  # finish fell least
    balancer.end_epoch(2, dict(zip([f"{t}_loss" for t in TASKS], losses[2])))
    np.testing.assert_allclose(_weights(balancer), eq_1(losses[1], losses[2], 1.5), rtol=1e-6)
    stacked = [keras.ops.convert_to_tensor(v) for v in (0.1, 0.2, 0.3)]
    total = float(balancer.combine(stacked, training=True))
    want = float(np.dot(eq_1(losses[1], losses[2], 1.5), [0.1, 0.2, 0.3]))
    assert total == pytest.approx(want, rel=1e-6)


def test_a_task_with_no_loss_two_epochs_ago_gets_ratio_1():
    balancer = DynamicWeightAverage(["a", "b"])
    balancer.end_epoch(0, {"a_loss": 0.0, "b_loss": 1.0})
    balancer.end_epoch(1, {"a_loss": 0.5, "b_loss": 1.0})
    np.testing.assert_allclose(_weights(balancer), [1.0, 1.0], rtol=1e-6)


@pytest.mark.parametrize("temperature", [0, -1.0, float("nan"), "2"])
def test_temperature_must_be_positive(temperature):
    with pytest.raises(ValueError, match=r"temperature T > 0 .* Received: temperature="):
        DynamicWeightAverage(TASKS, temperature=temperature)


def test_missing_task_loss_in_the_logs_is_named():
    balancer = DynamicWeightAverage(["click", "buy"])
    with pytest.raises(ValueError, match=r"epoch 0's logs lack \['buy_loss'\]"):
        balancer.end_epoch(0, {"click_loss": 0.5, "loss": 0.5})


def test_config_and_make_balancer():
    balancer = make_balancer({"strategy": "dwa", "temperature": 1.5}, load_demo(rows=300).tasks)
    assert isinstance(balancer, DynamicWeightAverage) and balancer.temperature == 1.5
    clone = DynamicWeightAverage.from_config(balancer.get_config())
    assert clone.tasks == TASKS and clone.temperature == 1.5


@pytest.fixture(scope="module")
def fitted():
    data = load_demo(rows=1500)
    training.set_seed(0)
    model = build_model("mmoe", data.spec, data.tasks)
    training.compile_multitask(model, loss_balancing="dwa")
    # 900 training rows: batches of 300 are all equal, so the epoch `loss` (a mean weighted
    # by batch size) is Σ_k w_k · <task>_loss (unweighted batch means) exactly.
    history = training.fit(model, data, epochs=3, batch_size=300, verbose=0)
    return data, model, history.history


def test_fit_logs_eq_1_weights_and_trains_with_them(fitted):
    _, model, h = fitted
    for epoch in (0, 1):
        for task in TASKS:
            assert h[f"loss_weight/{task}"][epoch] == pytest.approx(OMEGA[task])
    want = eq_1([h[f"{t}_loss"][0] for t in TASKS], [h[f"{t}_loss"][1] for t in TASKS], 2.0)
    logged = np.array([h[f"loss_weight/{t}"][2] / OMEGA[t] for t in TASKS])
    np.testing.assert_allclose(logged, want, rtol=1e-5)
    assert not np.allclose(want, 1.0, atol=1e-3)
    # The compiled step read the new weights (no retrace, no stale constant): loss = Σ w_k L_k.
    for epoch in range(3):
        w = np.array([h[f"loss_weight/{t}"][epoch] / OMEGA[t] for t in TASKS])
        task_losses = [h[f"{t}_loss"][epoch] for t in TASKS]
        assert h["loss"][epoch] == pytest.approx(float(np.dot(w, task_losses)), rel=1e-5)
    # The state after the fit: weights for epoch 3 from epochs 1 and 2.
    want = eq_1([h[f"{t}_loss"][1] for t in TASKS], [h[f"{t}_loss"][2] for t in TASKS], 2.0)
    np.testing.assert_allclose(_weights(model.balancer), want, rtol=1e-5)
    assert float(model.balancer.epochs_seen.numpy()) == 3.0
    assert all(not v.trainable for v in model.balancer.variables)


def test_keras_file_keeps_the_balancer_state(fitted, tmp_path):
    _, model, _ = fitted
    model.save(tmp_path / "dwa.keras")
    restored = keras.saving.load_model(tmp_path / "dwa.keras")
    assert isinstance(restored.balancer, DynamicWeightAverage)
    assert restored.balancer.temperature == 2.0
    for want, got in zip(model.balancer.variables, restored.balancer.variables):
        assert want.path == got.path
        np.testing.assert_array_equal(got.numpy(), want.numpy())


class _StopAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("killed")


def test_backup_and_restore_resumes_with_the_epochs_it_saw(tmp_path):
    data = load_demo(rows=600)

    def model():
        training.set_seed(0)
        m = build_model("mmoe", data.spec, data.tasks, num_experts=2, expert_units=[8])
        return training.compile_multitask(m, loss_balancing="dwa")

    first = model()
    with pytest.raises(RuntimeError, match="killed"):
        training.fit(
            first,
            data,
            epochs=3,
            batch_size=120,
            verbose=0,
            backup_dir=tmp_path / "b",
            callbacks=[_StopAt(2)],
        )
    h0 = first.history.history
    resumed = model()
    h = training.fit(resumed, data, epochs=3, batch_size=120, verbose=0, backup_dir=tmp_path / "b")
    h = h.history
    assert len(h["loss"]) == 1  # only epoch 2 ran
    want = eq_1([h0[f"{t}_loss"][0] for t in TASKS], [h0[f"{t}_loss"][1] for t in TASKS], 2.0)
    assert not np.allclose(want, 1.0, atol=1e-3)  # a fresh balancer would train epoch 2 at weight 1
    logged = [h[f"loss_weight/{t}"][0] / OMEGA[t] for t in TASKS]
    np.testing.assert_allclose(logged, want, rtol=1e-5)


@needs_jax
def test_trains_under_jax():
    out = jax_fit("dwa")
    h, state = out["history"], out["balancer"]
    assert out["backend"] == "jax"
    for task in TASKS:
        assert h[f"loss_weight/{task}"] == pytest.approx([OMEGA[task]] * 2)
    weights = next(v for k, v in state.items() if k.endswith("task_weights"))
    want = eq_1([h[f"{t}_loss"][0] for t in TASKS], [h[f"{t}_loss"][1] for t in TASKS], 2.0)
    np.testing.assert_allclose(weights, want, rtol=1e-5)
