"""PCGrad (Yu et al., NeurIPS'20, Algorithm 1) against numpy, and the per-task gradient train step.

The train step's own invariants live here too: XLA, PLE eq 9 (a task with no in-space rows
gets a zero gradient row) and the early error on backends without per-task gradients.
"""

import itertools

import keras
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
from tfmtl.balancing.pcgrad import PCGrad
from tfmtl.data.demo import load_demo
from tfmtl.models.zoo import build_model
from tfmtl.tasks import Task


def pcgrad_reference(g, orders):
    """Algorithm 1 in numpy: g [K, D]; orders[i] the other tasks, in the order task i meets them."""
    out = []
    for i, order in enumerate(orders):
        gi = g[i].copy()
        for j in order:
            dot = gi @ g[j]
            if dot < 0:
                gi = gi - dot / (g[j] @ g[j]) * g[j]
        out.append(gi)
    return np.sum(out, axis=0)


def test_two_conflicting_gradients_are_projected_onto_each_others_normal_plane():
    # Variable 1 [2, 2] is shared; variable 2 [1] is task 0's own (zero in task 1's row).
    g = np.array([[1.0, 2.0, 0.5, -1.0, 3.0], [-2.0, 1.0, -1.5, 0.5, 0.0]], "float32")
    assert g[0] @ g[1] < 0
    update = PCGrad(["ctr", "cvr"], seed=1).combine_gradients(
        as_variables(g, [(2, 2), (1,)]), [0.0, 0.0]
    )
    assert [tuple(u.shape) for u in update] == [(2, 2), (1,)]
    want = pcgrad_reference(g.astype("float64"), [[1], [0]])
    np.testing.assert_allclose(flat_numpy(update), want, rtol=1e-5, atol=1e-6)
    # Each projected gradient no longer conflicts with the other task's.
    g0 = g[0] - (g[0] @ g[1]) / (g[1] @ g[1]) * g[1]
    assert abs(g0 @ g[1]) < 1e-5


def test_two_agreeing_gradients_pass_unchanged():
    g = np.array([[1.0, 2.0, 0.5, 3.0], [2.0, 1.0, 0.5, 0.0]], "float32")
    assert g[0] @ g[1] > 0
    update = PCGrad(["ctr", "cvr"]).combine_gradients(as_variables(g, [(4,)]), [0.0, 0.0])
    np.testing.assert_allclose(flat_numpy(update), g.sum(axis=0), rtol=1e-6)


def test_three_tasks_follow_one_of_the_random_orders():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(3, 6))
    g[2] = -0.8 * g[0] + 0.3 * rng.normal(size=6)  # conflicts with task 0
    balancer = PCGrad(["a", "b", "c"], seed=3)
    got = [
        flat_numpy(balancer.combine_gradients(as_variables(g.astype("float32"), [(6,)]), [0.0] * 3))
        for _ in range(4)
    ]
    others = [[j for j in range(3) if j != i] for i in range(3)]
    candidates = [
        pcgrad_reference(g, [o if flip else o[::-1] for o, flip in zip(others, flips)])
        for flips in itertools.product([True, False], repeat=3)
    ]
    for update in got:
        assert min(np.abs(update - c).max() for c in candidates) < 1e-5
    # A zero gradient (a task with no in-space rows) projects nothing away: 0 / ||0||² is 0.
    g[1] = 0.0
    update = flat_numpy(
        balancer.combine_gradients(as_variables(g.astype("float32"), [(6,)]), [0.0] * 3)
    )
    assert np.all(np.isfinite(update))


def test_bad_arguments_are_named(monkeypatch):
    with pytest.raises(
        ValueError, match=r"PCGrad's seed must be an int or None. Received: seed='1'"
    ):
        PCGrad(["ctr", "cvr"], seed="1")
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(
        ValueError,
        match=r"loss_balancing 'pcgrad' needs per-task gradients, implemented for "
        r"the tensorflow and jax backends; KERAS_BACKEND is 'torch'.",
    ):
        make_balancer("pcgrad", [Task("ctr"), Task("cvr")])


@pytest.fixture(scope="module")
def data():
    return load_demo(rows=1500, seed=0)


@pytest.mark.filterwarnings("ignore:Model doesn't support `jit_compile=True`")  # the string lookup
def test_fit_logs_weights_and_round_trips(data, tmp_path):
    training.set_seed(0)
    model = build_model("mmoe", data.spec, data.tasks)
    training.compile_multitask(
        model, loss_balancing={"strategy": "pcgrad", "seed": 7}, jit_compile=True
    )
    history = training.fit(model, data, epochs=2, batch_size=256, verbose=0).history
    assert np.all(np.isfinite(history["loss"])) and history["loss"][1] < history["loss"][0]
    for task in model.tasks:
        assert history[f"loss_weight/{task.name}"] == pytest.approx(
            [task.loss_weight_at(e) for e in (0, 1)]
        )
    restored = round_trip(model, tmp_path / "pcgrad.keras", data)
    assert isinstance(restored.balancer, PCGrad) and restored.balancer.seed == 7


def encoded(data, split="train"):
    x = data.spec.encode(data[split].features)
    y = {t.name: np.asarray(data[split].labels[t.name], np.float32) for t in data.tasks}
    return x, y


def test_train_step_compiles_under_xla(data):
    # build_model(lookup=False) has no string lookup, so jit_compile=True really is XLA.
    x, y = encoded(data)
    training.set_seed(0)
    model = build_model("mmoe", data.spec, data.tasks, lookup=False)
    training.compile_multitask(model, loss_balancing="pcgrad", jit_compile=True)
    losses = model.fit(x, y, batch_size=256, epochs=2, shuffle=False, verbose=0).history["loss"]
    assert model.jit_compile is True
    assert np.all(np.isfinite(losses)) and losses[1] < losses[0]


def test_a_task_without_in_space_rows_gets_a_zero_gradient_row(data):
    # PLE eq 9: a batch where every `click` label is NaN gives `click` no gradient anywhere.
    x, y = encoded(data)
    x = {name: values[:64] for name, values in x.items()}
    y = {name: values[:64].copy() for name, values in y.items()}
    y["click"][:] = np.nan
    model = build_model("mmoe", data.spec, data.tasks, lookup=False)
    training.compile_multitask(model, loss_balancing="pcgrad", run_eagerly=True)
    seen = {}
    combine = model.balancer.combine_gradients

    def capture(task_gradients, losses):
        seen["rows"] = [keras.ops.convert_to_numpy(g) for g in task_gradients]
        return combine(task_gradients, losses)

    model.balancer.combine_gradients = capture
    logs = model.train_on_batch(x, y, return_dict=True)
    click = [t.name for t in model.tasks].index("click")
    rows = seen["rows"]
    assert len(rows) == len(model.trainable_variables)
    assert all(
        r.shape == (len(model.tasks), *v.shape) for r, v in zip(rows, model.trainable_variables)
    )
    assert all(np.all(r[click] == 0.0) for r in rows)
    for k in range(len(model.tasks)):
        if k != click:
            assert any(np.any(r[k] != 0.0) for r in rows)
    assert np.isfinite(logs["loss"]) and logs["click_loss"] == 0.0


@needs_jax
def test_jax_fit():
    result = jax_fit({"strategy": "pcgrad", "seed": 2})
    history = result["history"]
    assert result["backend"] == "jax"
    assert np.all(np.isfinite(history["loss"])) and history["loss"][1] < history["loss"][0]
    assert {"loss_weight/click", "loss_weight/finish", "loss_weight/watch_time"} <= set(history)
    # The seed generator's state is trainer state: it advanced once per step.
    (state,) = [v for name, v in result["balancer"].items() if "seed" in name]
    assert state[1] > 0
