"""RandomLossWeighting: λ = softmax(ε) per step, 1/K on evaluation, seeds, fit, .keras, JAX."""

from pathlib import Path

import keras
import numpy as np
import pytest

from tests.balancing.common import jax_fit, needs_jax
from tfmtl import training
from tfmtl.balancing import make_balancer
from tfmtl.balancing.rlw import RandomLossWeighting
from tfmtl.data.demo import load_demo
from tfmtl.models.zoo import build_model

ROOT = Path(__file__).resolve().parents[2]
TASKS = ["click", "finish", "watch_time"]
OMEGA = {"click": 1.0, "finish": 1.0, "watch_time": 0.2}  # the demo tasks' loss_weight ω_k
LOSSES = (0.3, 0.6, 0.9)


def _losses():
    return [keras.ops.convert_to_tensor(v) for v in LOSSES]


def _weights(balancer):
    return np.array([float(keras.ops.convert_to_numpy(w)) for w in balancer.loss_weights()])


def _draws(balancer, steps=4):
    """(total, λ) of `steps` training combines."""
    out = []
    for _ in range(steps):
        total = float(balancer.combine(_losses(), training=True))
        out.append((total, _weights(balancer)))
    return out


def softmax(z):
    e = np.exp(np.asarray(z, np.float64) - np.max(z))
    return e / e.sum()


@pytest.mark.parametrize("distribution", ["normal", "uniform"])
def test_weights_are_softmax_of_the_draw_and_weight_the_losses(distribution):
    balancer = RandomLossWeighting(TASKS, distribution=distribution, seed=7)
    reference = keras.random.SeedGenerator(7)  # the same stream, drawn outside the balancer
    draw = keras.random.normal if distribution == "normal" else keras.random.uniform
    for total, weights in _draws(balancer):
        eps = keras.ops.convert_to_numpy(draw((3,), seed=reference, dtype="float32"))
        np.testing.assert_allclose(weights, softmax(eps), rtol=1e-5)
        assert weights.sum() == pytest.approx(1.0, abs=1e-6) and (weights > 0).all()
        assert total == pytest.approx(float(np.dot(weights, LOSSES)), rel=1e-5)
        if distribution == "uniform":  # ε in [0, 1): λ_k in [1 / (1 + 2e), e / (e + 2)]
            assert (weights >= 1 / (1 + 2 * np.e) - 1e-6).all()
            assert (weights <= np.e / (np.e + 2) + 1e-6).all()


def test_weights_differ_between_steps():
    draws = [w for _, w in _draws(RandomLossWeighting(TASKS, seed=0), steps=5)]
    for a, b in zip(draws, draws[1:]):
        assert np.abs(a - b).max() > 1e-4


def test_evaluation_weighs_every_task_1_over_k():
    balancer = RandomLossWeighting(TASKS, seed=0)
    np.testing.assert_allclose(_weights(balancer), 1 / 3, rtol=1e-6)  # before any step
    _draws(balancer, steps=1)
    drawn = _weights(balancer)
    for _ in range(2):
        total = float(balancer.combine(_losses(), training=False))
        assert total == pytest.approx(np.mean(LOSSES), rel=1e-6)
    np.testing.assert_array_equal(_weights(balancer), drawn)  # evaluation neither draws nor records


def test_a_fixed_seed_repeats_the_weights():
    a, b = _draws(RandomLossWeighting(TASKS, seed=3)), _draws(RandomLossWeighting(TASKS, seed=3))
    other = _draws(RandomLossWeighting(TASKS, seed=4))
    for (ta, wa), (tb, wb), (_, wo) in zip(a, b, other):
        np.testing.assert_array_equal(wa, wb)
        assert ta == tb and np.abs(wa - wo).max() > 1e-4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"distribution": "dirichlet"},
            r"one of \['normal', 'uniform'\]. Received: distribution='dirichlet'",
        ),
        ({"seed": 1.5}, r"int seed \(or None\). Received: seed=1.5"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandomLossWeighting(TASKS, **kwargs)


def test_config_and_make_balancer():
    spec = {"strategy": "rlw", "distribution": "uniform", "seed": 5}
    balancer = make_balancer(spec, load_demo(rows=300).tasks)
    clone = RandomLossWeighting.from_config(balancer.get_config())
    assert (clone.tasks, clone.distribution, clone.seed) == (TASKS, "uniform", 5)
    np.testing.assert_array_equal(_draws(clone)[0][1], _draws(balancer)[0][1])


@pytest.fixture(scope="module")
def fitted():
    data = load_demo(rows=1500)
    training.set_seed(0)
    model = build_model("mmoe", data.spec, data.tasks)
    training.compile_multitask(model, loss_balancing="rlw")
    history = training.fit(model, data, epochs=3, batch_size=256, verbose=0)
    return data, model, history.history


def test_fit_logs_the_last_draw_and_validates_at_1_over_k(fitted):
    data, model, h = fitted
    logged = np.array([[h[f"loss_weight/{t}"][e] / OMEGA[t] for t in TASKS] for e in range(3)])
    np.testing.assert_allclose(logged.sum(axis=1), 1.0, rtol=1e-5)
    assert (logged > 0).all() and np.abs(logged[1:] - logged[:-1]).max() > 1e-3
    np.testing.assert_allclose(_weights(model.balancer), logged[-1], rtol=1e-6)
    # 900 training rows in batches of 256: 4 steps an epoch, each one draw of the seed stream.
    assert keras.ops.convert_to_numpy(model.balancer.seed_generator.state).tolist()[-1] == 12
    for e in range(3):
        mean = np.mean([h[f"val_{t}_loss"][e] for t in TASKS])
        assert h["val_loss"][e] == pytest.approx(mean, rel=1e-5)
    validation = data.dataset("validation", batch_size=4096, tasks=TASKS)
    first, second = (
        model.evaluate(validation, verbose=0, return_dict=True)["loss"] for _ in range(2)
    )
    assert first == second == pytest.approx(h["val_loss"][-1], rel=1e-5)


def test_each_compiled_step_draws_anew(fitted):
    data, model, _ = fitted
    x, y = next(iter(data.dataset("train", batch_size=64, tasks=TASKS)))
    seen = []
    for _ in range(2):
        model.train_on_batch(x, y)
        seen.append(_weights(model.balancer))
    assert np.abs(seen[0] - seen[1]).max() > 1e-4 and seen[1].sum() == pytest.approx(1.0, abs=1e-5)


def test_keras_file_keeps_the_weights_and_the_seed_stream(fitted, tmp_path):
    _, model, _ = fitted
    model.save(tmp_path / "rlw.keras")
    restored = keras.saving.load_model(tmp_path / "rlw.keras")
    a, b = model.balancer, restored.balancer
    assert isinstance(b, RandomLossWeighting) and (b.distribution, b.seed) == ("normal", 0)
    np.testing.assert_array_equal(b.last_weights.numpy(), a.last_weights.numpy())
    np.testing.assert_array_equal(b.seed_generator.state.numpy(), a.seed_generator.state.numpy())
    # The same next λ from both: the seed stream carries on.
    np.testing.assert_array_equal(_draws(b, steps=2)[1][1], _draws(a, steps=2)[1][1])


@needs_jax
def test_trains_under_jax():
    spec = {"strategy": "rlw", "seed": 1}
    out = jax_fit(spec)
    h, state = out["history"], out["balancer"]
    assert out["backend"] == "jax" and np.isfinite(h["loss"]).all()
    logged = np.array([[h[f"loss_weight/{t}"][e] / OMEGA[t] for t in TASKS] for e in range(2)])
    np.testing.assert_allclose(logged.sum(axis=1), 1.0, rtol=1e-5)
    assert np.abs(logged[1] - logged[0]).max() > 1e-3  # a fresh draw inside the jitted step
    last = next(v for k, v in state.items() if k.endswith("last_weights"))
    seed_state = next(v for k, v in state.items() if k.endswith("seed_generator_state"))
    np.testing.assert_allclose(last, logged[-1], rtol=1e-6)
    assert seed_state[-1] == 6  # 900 rows / 300 = 3 steps an epoch: the state moved with each step
