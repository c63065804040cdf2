"""MetaBalance (He et al., WWW'22, Algorithm 1): auxiliary scaling over two steps, fits, saving."""

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
from tfmtl.balancing.metabalance import MetaBalance
from tfmtl.data.demo import load_demo
from tfmtl.models.zoo import build_model
from tfmtl.tasks import Task


class MetaBalanceReference:
    """Algorithm 1 in numpy, one moving norm per task over the shared entries."""

    def __init__(self, num_tasks, target, relax_factor, beta):
        self.m = np.zeros(num_tasks)
        self.target, self.r, self.beta = target, relax_factor, beta

    def step(self, g, shared):
        self.m = self.beta * self.m + (1 - self.beta) * np.linalg.norm(g[:, shared], axis=1)
        scales = self.r * self.m[self.target] / self.m + (1 - self.r)
        scales[self.target] = 1.0
        update = g.sum(axis=0)  # task-specific entries: each task's own gradient
        update[shared] = (scales[:, None] * g[:, shared]).sum(axis=0)
        return scales, update


def gradients(rng, scale):
    # Entries 0-4 shared by all three tasks, 5-6 task 0's own, 7 task 2's own.
    g = rng.normal(size=(3, 8)) * scale
    g[1:, 5:7] = 0.0
    g[:2, 7] = 0.0
    return g


def test_scaling_after_one_and_two_steps_matches_numpy():
    rng = np.random.default_rng(0)
    shared = np.arange(8) < 5
    balancer = MetaBalance(["ctr", "cvr", "watch"], target="cvr", relax_factor=0.6, beta=0.8)
    reference = MetaBalanceReference(3, target=1, relax_factor=0.6, beta=0.8)
    assert [float(w) for w in balancer.loss_weights()] == [1.0, 1.0, 1.0]  # no average yet
    for step in range(2):
        g = gradients(rng, scale=np.array([[0.2], [1.0], [5.0]]) * (step + 1))
        update = balancer.combine_gradients(
            as_variables(g.astype("float32"), [(4,), (2, 2)]), [0.0] * 3
        )
        scales, want = reference.step(g, shared)
        np.testing.assert_allclose(balancer.moving_norms.numpy(), reference.m, rtol=1e-5)
        np.testing.assert_allclose([float(w) for w in balancer.loss_weights()], scales, rtol=1e-5)
        np.testing.assert_allclose(flat_numpy(update), want, rtol=1e-5, atol=1e-6)
    # The small auxiliary is scaled up, the large one down, toward the target's magnitude.
    assert scales[0] > 1.0 > scales[2]


def test_relax_factor_zero_is_the_plain_sum():
    g = gradients(np.random.default_rng(1), scale=np.array([[0.1], [1.0], [10.0]])).astype(
        "float32"
    )
    balancer = MetaBalance(["ctr", "cvr", "watch"], relax_factor=0.0)
    update = balancer.combine_gradients(as_variables(g, [(8,)]), [0.0] * 3)
    np.testing.assert_allclose(flat_numpy(update), g.sum(axis=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "options, message",
    [
        (
            {"target": "like"},
            r"MetaBalance's target 'like' is not one of the tasks \['ctr', 'cvr'\]. "
            r"Received: target='like'",
        ),
        (
            {"relax_factor": 1.5},
            r"MetaBalance's relax_factor must be in \[0, 1\]. Received: relax_factor=1.5",
        ),
        ({"beta": 1.0}, r"MetaBalance's beta must be in \[0, 1\). Received: beta=1.0"),
    ],
)
def test_bad_arguments_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        make_balancer({"strategy": "metabalance", **options}, [Task("ctr"), Task("cvr")])


@pytest.fixture(scope="module")
def data():
    return load_demo(rows=1500, seed=0)


@pytest.mark.filterwarnings("ignore:Model doesn't support `jit_compile=True`")  # the string lookup
def test_fit_logs_weights_and_round_trips(data, tmp_path):
    training.set_seed(0)
    model = build_model("mmoe", data.spec, data.tasks)
    spec = {"strategy": "metabalance", "target": "finish", "relax_factor": 0.5}
    training.compile_multitask(model, loss_balancing=spec, jit_compile=True)
    history = training.fit(model, data, epochs=2, batch_size=256, verbose=0).history
    assert np.all(np.isfinite(history["loss"])) and history["loss"][1] < history["loss"][0]
    scales = [float(w) for w in model.balancer.loss_weights()]
    names = [t.name for t in model.tasks]
    assert scales[names.index("finish")] == 1.0 and np.all(model.balancer.moving_norms.numpy() > 0)
    for task, scale in zip(model.tasks, scales):  # ω_k(t) x the scale, at the epoch's end
        assert history[f"loss_weight/{task.name}"][-1] == pytest.approx(
            task.loss_weight_at(1) * scale, rel=1e-5
        )
    restored = round_trip(model, tmp_path / "metabalance.keras", data)
    assert isinstance(restored.balancer, MetaBalance)
    assert (restored.balancer.target, restored.balancer.relax_factor) == ("finish", 0.5)
    np.testing.assert_allclose(
        restored.balancer.moving_norms.numpy(), model.balancer.moving_norms.numpy()
    )


@needs_jax
def test_jax_fit():
    result = jax_fit("metabalance")
    history = result["history"]
    assert result["backend"] == "jax"
    assert np.all(np.isfinite(history["loss"])) and history["loss"][1] < history["loss"][0]
    (m,) = [v for name, v in result["balancer"].items() if name.endswith("moving_norms")]
    assert all(v > 0 for v in m)  # the averages assigned inside the jitted step came back as state
    assert history["loss_weight/click"] == [1.0, 1.0]  # the target (the first task)
    assert history["loss_weight/finish"][-1] == pytest.approx(0.7 * m[0] / m[1] + 0.3, rel=1e-4)
