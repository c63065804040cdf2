"""The loss-balancing contract: the registry, the model's balanced loss, logging, saving, PLE eq 9.

Uncertainty weighting is the worked strategy here, against a numpy reference of Kendall et
al.'s eq 7 and 10 and its gradients.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import training
from tfmtl.balancing import STRATEGIES, make_balancer
from tfmtl.balancing.uncertainty import Uncertainty
from tfmtl.data.demo import load_demo
from tfmtl.models.zoo import build_model
from tfmtl.tasks import Task

TASKS = [Task("ctr"), Task("watch", kind="regression")]


def uncertainty_reference(losses, s, kinds):
    """Kendall et al. eq 7 / 10 with s = log σ²: the loss, d/dL and d/ds, in numpy."""
    c = np.array([1.0 if k == "binary" else 0.5 for k in kinds])
    total = np.sum(c * np.exp(-s) * losses + 0.5 * s)
    return total, c * np.exp(-s), -c * np.exp(-s) * losses + 0.5


def test_uncertainty_loss_and_gradients_match_numpy():
    balancer = make_balancer({"strategy": "uncertainty", "initial_log_variance": 0.3}, TASKS)
    balancer.log_variance.assign([0.3, -0.7])
    losses = [tf.Variable(0.62), tf.Variable(3.5)]
    with tf.GradientTape() as tape:
        total = balancer.combine(losses)
    d_losses = tape.gradient(total, losses + [balancer.log_variance])
    want, want_dl, want_ds = uncertainty_reference(
        np.array([0.62, 3.5]), np.array([0.3, -0.7]), ["binary", "regression"]
    )
    np.testing.assert_allclose(float(total), want, rtol=1e-6)
    np.testing.assert_allclose([float(d_losses[0]), float(d_losses[1])], want_dl, rtol=1e-6)
    np.testing.assert_allclose(d_losses[2].numpy(), want_ds, rtol=1e-6)
    np.testing.assert_allclose([float(w) for w in balancer.loss_weights()], want_dl, rtol=1e-6)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("pcgard", "loss_balancing 'pcgard' is not a strategy; choose one of"),
        ({"temperature": 2}, "loss_balancing needs a strategy name"),
        (
            {"strategy": "uncertainty", "temprature": 2},
            "loss_balancing 'uncertainty' has no option 'temprature'; its options: "
            "['initial_log_variance']",
        ),
        ({"strategy": "fixed", "scale": 2}, "loss_balancing 'fixed' takes no options"),
        ("ple_decay", "needs a task with a decay other than 1"),
    ],
)
def test_bad_strategies_are_named(spec, message):
    with pytest.raises(ValueError) as e:
        make_balancer(spec, TASKS)
    assert message in str(e.value)


def test_fixed_and_ple_decay_keep_the_compiled_sum():
    assert make_balancer(None, TASKS) is None and make_balancer("fixed", TASKS) is None
    assert make_balancer("ple_decay", [Task("ctr", decay=0.9), Task("cvr")]) is None
    assert set(STRATEGIES) >= {
        "fixed",
        "ple_decay",
        "uncertainty",
        "dwa",
        "rlw",
        "gradnorm",
        "pcgrad",
        "metabalance",
    }


@pytest.fixture(scope="module")
def data():
    return load_demo(rows=1500, seed=0)


def test_balanced_fit_logs_the_weights_in_force_and_round_trips(data, tmp_path):
    training.set_seed(0)
    model = build_model("mmoe", data.spec, data.tasks)
    training.compile_multitask(model, loss_balancing="uncertainty")
    history = training.fit(model, data, epochs=2, batch_size=256, verbose=0).history
    names = [t.name for t in model.tasks]
    # The per-task losses are still reported under their usual names, and the weights in
    # force are ω_k(t) x exp(-s_k) (x 0.5 for regression) at the epoch's end.
    assert all(f"{n}_loss" in history and f"val_{n}_loss" in history for n in names)
    s = model.balancer.log_variance.numpy()
    kinds = [t.kind for t in model.tasks]
    _, weights, _ = uncertainty_reference(np.zeros(len(names)), s, kinds)
    for name, w, task in zip(names, weights, model.tasks):
        assert history[f"loss_weight/{name}"][-1] == pytest.approx(
            task.loss_weight_at(1) * w, rel=1e-5
        )
    assert not np.allclose(s, 0.0)  # the log-variances trained
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.balancer, Uncertainty)
    np.testing.assert_array_equal(loaded.balancer.log_variance.numpy(), s)
    x = {k: v[:7] for k, v in data["test"].features.items()}
    a, b = model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_rows_outside_a_tasks_space_give_it_no_loss_under_a_balancer(data):
    """PLE eq 9 holds under every strategy: the balancer sees the masked mean only."""
    training.set_seed(0)
    model = build_model("mmoe", data.spec, data.tasks)
    training.compile_multitask(model, loss_balancing="uncertainty")
    x = {k: v[:64] for k, v in data["train"].features.items()}
    y = {t.name: np.asarray(data["train"].labels[t.name][:64], "float32") for t in model.tasks}
    pred = model(x, training=False)
    first = model.tasks[0].name
    masked = dict(y, **{first: np.where(np.arange(64) < 32, y[first], np.nan).astype("float32")})
    losses = [float(v) for v in model.task_losses(masked, pred)]
    p = np.clip(np.asarray(pred[first]).reshape(-1)[:32], 1e-7, 1 - 1e-7)
    t = y[first][:32]
    assert losses[0] == pytest.approx(
        float(np.mean(-(t * np.log(p) + (1 - t) * np.log(1 - p)))), rel=1e-5
    )
    with tf.GradientTape() as tape:
        out = model(x, training=True)
        total = model.compute_loss(x, dict(y, **{first: np.full(64, np.nan, "float32")}), out)
    grads = tape.gradient(total, model.trainable_variables)
    tower = [
        g for v, g in zip(model.trainable_variables, grads) if first in v.path and "tower" in v.path
    ]
    assert tower and all(g is None or not np.any(g.numpy()) for g in tower)


def test_the_gradient_step_equals_kerass_own_when_the_strategy_is_the_plain_sum(data):
    """MetaBalance with relax_factor 0 applies Σ_k g_k: three steps of it land where Keras's step
    does.
    """
    x = {k: v[:256] for k, v in data["train"].features.items()}
    y = {t.name: np.asarray(data["train"].labels[t.name][:256], "float32") for t in data.tasks}
    weights = {}
    for balancing in ("fixed", {"strategy": "metabalance", "relax_factor": 0.0}):
        training.set_seed(0)
        model = build_model("mmoe", data.spec, data.tasks)
        training.compile_multitask(
            model, optimizer=keras.optimizers.SGD(0.1), loss_balancing=balancing, jit_compile=False
        )
        assert (model.balancer is not None) == isinstance(
            balancing, dict
        )  # metabalance: the per-task step
        if model.balancer is not None:
            assert model.balancer.needs_task_gradients
        for _ in range(3):
            model.train_on_batch(x, y)
        weights[str(balancing)] = [
            v.numpy() for v in model.trainable_variables if "balancer" not in v.path
        ]
    plain, balanced = weights.values()
    assert len(plain) == len(balanced)
    for a, b in zip(plain, balanced):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
