"""STEM: numbers against a numpy reference of STEM eq 2-4, AFTB gradients, contract, errors."""

import keras
import numpy as np
import pytest
from keras import ops

from tests.contracts import check_switcher
from tfmtl.layers.stem import STEM

B, D, T = 6, 5, 2
RNG = np.random.default_rng(0)
VIEWS = [RNG.normal(size=(B, D)).astype("float32") for _ in range(T + 1)]


def _np_mlp(x, kernels, biases):
    """One expert: h = relu(h K_l + b_l) for every layer l (each expert ends in a ReLU)."""
    for k, b in zip(kernels, biases):
        x = np.maximum(x @ k + b, 0.0)
    return x


def _np_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _np_stem(layer, task_views, shared_view):
    """STEM eq 2-4 in numpy, one expert at a time; AFTB changes no forward number."""
    t, m_t, m_s = layer.num_outputs, layer.num_task_experts, layer.num_shared_experts
    tk = [np.asarray(k) for k in layer.task_experts.kernels]
    tb = [np.asarray(b) for b in layer.task_experts.biases]
    experts = []  # eq 2: task j's i-th expert reads e^j; columns j * m_t + i
    for j in range(t):
        for i in range(m_t):
            e = j * m_t + i
            experts.append(_np_mlp(task_views[j], [k[e] for k in tk], [b[e] for b in tb]))
    if m_s:
        sk = [np.asarray(k) for k in layer.shared_experts.kernels]
        sb = [np.asarray(b) for b in layer.shared_experts.biases]
        for i in range(m_s):
            experts.append(_np_mlp(shared_view, [k[i] for k in sk], [b[i] for b in sb]))
    stacked = np.stack(experts, axis=1)  # [B, E, H]
    outs, gates = [], []
    for k in range(t):
        gate = layer.task_gates[k]
        z = (task_views[k] + shared_view) @ np.asarray(gate.kernel) + np.asarray(gate.bias)
        w = _np_softmax(z)  # eq 3: over every expert of the layer
        outs.append(np.einsum("be,beh->bh", w, stacked))
        gates.append(w)
    return outs, gates


def _assert_close(got, want, atol=1e-5):
    for g, w in zip(got, want):
        np.testing.assert_allclose(ops.convert_to_numpy(g), w, atol=atol)


def test_task_and_shared_views_match_numpy_equations():
    layer = STEM(num_outputs=T, num_task_experts=2, num_shared_experts=1, expert_units=[4, 3])
    outs, gates = layer(VIEWS, return_gates=True)
    want_outs, want_gates = _np_stem(layer, VIEWS[:T], VIEWS[T])
    _assert_close(outs, want_outs)
    _assert_close(gates, want_gates, atol=1e-6)
    assert [tuple(g.shape) for g in gates] == [(B, T * 2 + 1)] * T
    for g in gates:
        np.testing.assert_allclose(ops.convert_to_numpy(g).sum(-1), 1.0, atol=1e-6)


def test_one_tensor_and_task_views_only():
    layer = STEM(num_outputs=T, num_task_experts=1, num_shared_experts=2, expert_units=[4])
    x = VIEWS[0]
    _assert_close(layer(x), _np_stem(layer, [x] * T, x)[0])
    # T views and no shared one: the shared experts read the mean of the task views.
    mean = np.mean(VIEWS[:T], axis=0)
    _assert_close(layer(VIEWS[:T]), _np_stem(layer, VIEWS[:T], mean)[0])


def test_no_shared_experts():
    layer = STEM(num_outputs=3, num_task_experts=1, num_shared_experts=0, expert_units=[4])
    views = VIEWS + [VIEWS[0] * 2.0]  # three task views, then the shared one
    outs, gates = layer(views, return_gates=True)
    assert layer.shared_experts is None and tuple(gates[0].shape) == (B, 3)
    _assert_close(outs, _np_stem(layer, views[:3], views[3])[0])


def _gradients(layer, views, k):
    """d sum(output k) / d (views, trainable variables); zeros where there is no path."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(v) for v in views]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            loss = ops.sum(layer(tensors)[k])
        sources = tensors + [v.value for v in layer.trainable_variables]
        grads = tape.gradient(loss, sources, unconnected_gradients="zero")
    elif backend == "jax":
        import jax

        def loss(trainable, inputs):
            outs, _ = layer.stateless_call(trainable, layer.non_trainable_variables, inputs)
            return ops.sum(outs[k])

        trainable = [v.value for v in layer.trainable_variables]
        g_vars, g_views = jax.grad(loss, argnums=(0, 1))(trainable, list(views))
        grads = list(g_views) + list(g_vars)
    else:
        pytest.skip(f"gradient helper has no {backend} path")
    n = len(views)
    by_path = {v.path: np.asarray(g) for v, g in zip(layer.trainable_variables, grads[n:])}
    return [np.asarray(g) for g in grads[:n]], by_path


def test_aftb_task_loss_never_reaches_other_tasks_embeddings_or_experts():
    layer = STEM(num_outputs=T, num_task_experts=2, num_shared_experts=1, expert_units=[4, 3])
    layer(VIEWS)
    g_views, g_vars = _gradients(layer, VIEWS, k=0)
    # STEM eq 4: task 1's embedding and its experts (columns 2, 3) get exactly zero.
    assert np.all(g_views[1] == 0.0)
    assert np.any(g_views[0] != 0.0) and np.any(g_views[2] != 0.0)
    for path, g in g_vars.items():
        if "task_experts" in path:
            assert np.all(g[2:] == 0.0), path
            assert np.any(g[:2] != 0.0), path
        elif "gate_1" in path:
            assert np.all(g == 0.0), path  # task 1's gate is not on task 0's path
        else:
            assert np.any(g != 0.0), path  # shared experts and task 0's gate learn


def test_aftb_other_tasks_experts_still_move_the_forward_output():
    layer = STEM(num_outputs=T, num_task_experts=1, num_shared_experts=1, expert_units=[4])
    before = [ops.convert_to_numpy(o) for o in layer(VIEWS)]
    kernel = ops.convert_to_numpy(layer.task_experts.kernels[0]).copy()
    kernel[1] += 1.0  # task 1's expert only
    layer.task_experts.kernels[0].assign(kernel)
    after = [ops.convert_to_numpy(o) for o in layer(VIEWS)]
    assert not np.allclose(after[0], before[0], atol=1e-4)  # all forward
    assert not np.allclose(after[1], before[1], atol=1e-4)


def test_switcher_contract(tmp_path):
    check_switcher(
        lambda: STEM(num_outputs=2, num_task_experts=1, num_shared_experts=1, expert_units=[4]),
        num_outputs=2,
        tmp_path=tmp_path,
    )


def test_keras_file_round_trip_on_views(tmp_path):
    inputs = [keras.Input(shape=(D,), name=f"view_{i}") for i in range(T + 1)]
    outs, gates = STEM(T, 2, 1, [4], name="stem")(inputs, return_gates=True)
    model = keras.Model(inputs, {"a": outs[0], "b": outs[1], "gate_a": gates[0]})
    model.save(tmp_path / "stem.keras")
    restored = keras.saving.load_model(tmp_path / "stem.keras")
    want, got = model.predict(VIEWS, verbose=0), restored.predict(VIEWS, verbose=0)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=1e-6)
    config = restored.get_layer("stem").get_config()
    assert (config["num_task_experts"], config["num_shared_experts"]) == (2, 1)
    assert config["expert_units"] == [4] and config["num_outputs"] == T


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_task_experts": 0}, "num_task_experts >= 1"),
        ({"num_shared_experts": -1}, "num_shared_experts >= 0"),
        ({"expert_units": []}, "non-empty list of positive ints"),
        ({"expert_units": [4, 0]}, r"expert_units=\[4, 0\]"),
        ({"num_outputs": 0}, "num_outputs >= 1"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        STEM(**{"num_outputs": T, "expert_units": [4], **kwargs})


def test_wrong_views_are_named():
    with pytest.raises(ValueError, match="takes a tensor or a list of 2 or 3 views"):
        STEM(T, expert_units=[4])(VIEWS + [VIEWS[0]])
    with pytest.raises(ValueError, match="needs views of one width"):
        STEM(T, expert_units=[4])([VIEWS[0], VIEWS[1], VIEWS[2][:, :3]])
