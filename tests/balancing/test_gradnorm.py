"""GradNorm (Chen et al., ICML'18, eq 1-2, Algorithm 1): a weight update against numpy, fits."""

import numpy as np
import pytest

from tests.balancing.common import (
    as_variables,
    flat_numpy,
    jax_fit,
    needs_jax,
    round_trip,
)
from tfmtl import training
from tfmtl.balancing import make_balancer
from tfmtl.balancing.gradnorm import GradNorm
from tfmtl.data.demo import load_demo
from tfmtl.models.zoo import build_model
from tfmtl.tasks import Task


def gradnorm_reference(g, shared, w, losses, initial, alpha, lr):
    """Eq 1-2 in numpy: the next weights (renormalised to sum K) and the update Σ_k w_k g_k."""
    norms = np.linalg.norm(g[:, shared], axis=1)  # ||∇_W L_k||
    G = w * norms
    ratio = losses / initial
    r = ratio / ratio.mean()
    target = G.mean() * r**alpha
    new_w = w - lr * np.sign(G - target) * norms
    new_w = np.maximum(new_w, 1e-3)
    return new_w * len(w) / new_w.sum(), (w[:, None] * g).sum(axis=0)


def test_one_weight_update_matches_numpy():
    rng = np.random.default_rng(0)
    # Entries 0-5 shared by all three tasks; 6-7 task 0's tower, 8 task 2's head.
    g = rng.normal(size=(3, 9)).astype("float32")
    g[1:, 6:8] = 0.0
    g[:2, 8] = 0.0
    shared = np.arange(9) < 6
    w = np.array([0.6, 1.5, 0.9])
    losses, initial = np.array([0.5, 0.6, 2.0]), np.array([0.7, 0.65, 4.0])
    balancer = GradNorm(["a", "b", "c"], alpha=1.2, learning_rate=0.1)
    balancer.task_weights.assign(w)
    balancer.initial_losses.assign(initial)
    update = balancer.combine_gradients(
        as_variables(g, [(2, 3), (3,)]), [*losses.astype("float32")]
    )
    want_w, want_update = gradnorm_reference(
        g.astype("float64"), shared, w, losses, initial, 1.2, 0.1
    )
    np.testing.assert_allclose(balancer.task_weights.numpy(), want_w, rtol=1e-5)
    np.testing.assert_allclose(flat_numpy(update), want_update, rtol=1e-5, atol=1e-6)  # with w(t)
    np.testing.assert_allclose(balancer.initial_losses.numpy(), initial, rtol=1e-6)
    assert balancer.task_weights.numpy().sum() == pytest.approx(3.0)
    np.testing.assert_allclose([float(v) for v in balancer.loss_weights()], want_w, rtol=1e-5)


def test_first_losses_are_stored_per_task_and_weights_stay_positive():
    g = np.array([[100.0, 0.0], [0.01, 0.01]], "float32")
    balancer = GradNorm(["ctr", "cvr"], learning_rate=1.0)
    # cvr has no in-space rows in the first batch (PLE eq 9): loss 0, so no L_k(0) yet.
    balancer.combine_gradients(as_variables(g, [(2,)]), [0.8, 0.0])
    np.testing.assert_allclose(balancer.initial_losses.numpy(), [0.8, 0.0])
    balancer.combine_gradients(as_variables(g, [(2,)]), [0.7, 0.3])
    np.testing.assert_allclose(balancer.initial_losses.numpy(), [0.8, 0.3])
    w = balancer.task_weights.numpy()
    assert np.all(w > 0) and w.sum() == pytest.approx(2.0) and np.all(np.isfinite(w))


@pytest.mark.parametrize(
    "options, message",
    [
        (
            {"alpha": -1.0},
            r"GradNorm's alpha must be a number >= 0 \(eq 2's α\). Received: alpha=-1.0",
        ),
        (
            {"learning_rate": 0},
            r"GradNorm's learning_rate must be a number > 0. Received: learning_rate=0",
        ),
        ({"lr": 0.1}, r"loss_balancing 'gradnorm'.*'lr'.*\['alpha', 'learning_rate'\]"),
    ],
)
def test_bad_arguments_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        make_balancer({"strategy": "gradnorm", **options}, [Task("ctr"), Task("cvr")])


@pytest.fixture(scope="module")
def data():
    return load_demo(rows=1500, seed=0)


@pytest.mark.filterwarnings("ignore:Model doesn't support `jit_compile=True`")  # the string lookup
def test_fit_logs_weights_and_round_trips(data, tmp_path):
    training.set_seed(0)
    model = build_model("mmoe", data.spec, data.tasks)
    training.compile_multitask(
        model, loss_balancing={"strategy": "gradnorm", "alpha": 1.0}, jit_compile=True
    )
    history = training.fit(model, data, epochs=2, batch_size=256, verbose=0).history
    assert np.all(np.isfinite(history["loss"])) and history["loss"][1] < history["loss"][0]
    w = model.balancer.task_weights.numpy()
    assert w.sum() == pytest.approx(len(model.tasks), rel=1e-5) and not np.allclose(w, 1.0)
    assert np.all(model.balancer.initial_losses.numpy() > 0)
    for task, wk in zip(model.tasks, w):  # ω_k(t) x w_k, logged at the epoch's end
        assert history[f"loss_weight/{task.name}"][-1] == pytest.approx(
            task.loss_weight_at(1) * wk, rel=1e-5
        )
    restored = round_trip(model, tmp_path / "gradnorm.keras", data)
    assert isinstance(restored.balancer, GradNorm) and restored.balancer.alpha == 1.0
    np.testing.assert_allclose(restored.balancer.task_weights.numpy(), w)
    np.testing.assert_allclose(
        restored.balancer.initial_losses.numpy(), model.balancer.initial_losses.numpy()
    )


@needs_jax
def test_jax_fit():
    result = jax_fit("gradnorm")
    history = result["history"]
    assert result["backend"] == "jax"
    assert np.all(np.isfinite(history["loss"])) and history["loss"][1] < history["loss"][0]
    # The weights' assignments inside the jitted step came back as trainer state.
    (w,) = [v for name, v in result["balancer"].items() if name.endswith("task_weights")]
    (initial,) = [v for name, v in result["balancer"].items() if name.endswith("initial_losses")]
    assert sum(w) == pytest.approx(3.0, rel=1e-5) and not np.allclose(w, 1.0)
    assert all(v > 0 for v in initial)
    assert history["loss_weight/click"][-1] == pytest.approx(w[0], rel=1e-5)
