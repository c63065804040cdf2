"""CTFM (DML eq 5): numpy reference of the attention, and the stop-gradients it promises."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl.layers import CTFM

K, D, B = 3, 4, 5


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(B, D)).astype("float32") for _ in range(K)]


def _layer(stop_gradient="all", activation=None, seed=1):
    layer = CTFM(K, stop_gradient=stop_gradient, projection_activation=activation)
    layer.build([(None, D)] * K)
    rng = np.random.default_rng(seed)
    weights = {
        "t": rng.normal(size=(K, D)) * 0.5,
        "q": rng.normal(size=(D, D)),
        "k": rng.normal(size=(D, D)),
        "v": rng.normal(size=(D, D)),
    }
    layer.task_embeddings.assign(weights["t"].astype("float32"))
    layer.w_q.assign(weights["q"].astype("float32"))
    layer.w_k.assign(weights["k"].astype("float32"))
    layer.w_v.assign(weights["v"].astype("float32"))
    return layer, weights


def _reference(ls, w, relu=False):
    act = (lambda x: np.maximum(x, 0.0)) if relu else (lambda x: x)
    mat_o = np.stack(ls, axis=1).astype(np.float64) + w["t"][None]
    q, k, v = act(mat_o @ w["q"]), act(mat_o @ w["k"]), act(mat_o @ w["v"])
    s = np.einsum("bqd,bkd->bqk", q, k) / np.sqrt(D)
    a = np.exp(s - s.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    out = np.einsum("bqk,bkd->bqd", a, v) + mat_o
    return [out[:, i] for i in range(K)]


@pytest.mark.parametrize("stop_gradient", ["all", "others", "none"])
@pytest.mark.parametrize("activation", [None, "relu"])
def test_matches_numpy_reference(stop_gradient, activation):
    layer, w = _layer(stop_gradient, activation)
    ls = _inputs()
    got = layer(ls)
    for g, want in zip(got, _reference(ls, w, relu=activation == "relu")):
        np.testing.assert_allclose(np.asarray(g), want, atol=1e-5)


def _grads(layer, target: int):
    """d(sum of output `target`) / d(each input), and / d(each weight)."""
    ls = [tf.Variable(x) for x in _inputs()]
    with tf.GradientTape(persistent=True) as tape:
        out = layer(list(ls))[target]
        loss = tf.reduce_sum(out * tf.constant(np.arange(1, D + 1), tf.float32))
    return tape.gradient(loss, ls), tape.gradient(
        loss, {"t": layer.task_embeddings, "q": layer.w_q, "k": layer.w_k, "v": layer.w_v}
    )


@pytest.mark.parametrize("stop_gradient", ["all", "others"])
def test_task_loss_reaches_no_other_tower_input(stop_gradient):
    layer, _ = _layer(stop_gradient)
    for j in range(K):
        g_in, g_w = _grads(layer, j)
        for i in range(K):
            norm = float(tf.reduce_sum(tf.abs(g_in[i])))
            if i == j:
                assert norm > 1e-3  # own input: through Mat_q and the residual
            else:
                assert norm == 0.0  # DML §2.3: no gradient from Mat_k, Mat_v to Mat_o
        # the shared projections and task embeddings still learn
        assert all(float(tf.reduce_sum(tf.abs(g))) > 1e-4 for g in g_w.values())


def test_vanilla_attention_dml_v0_leaks_into_other_inputs():
    layer, _ = _layer("none")
    g_in, _ = _grads(layer, 0)
    assert all(float(tf.reduce_sum(tf.abs(g))) > 1e-4 for g in g_in)


def test_others_keeps_own_kv_gradient_all_cuts_it():
    g_all = _grads(_layer("all")[0], 1)[0][1]
    g_others = _grads(_layer("others")[0], 1)[0][1]
    # "others" = "all" plus the own row's K/V path, which "none" also has
    assert float(tf.reduce_max(tf.abs(g_others - g_all))) > 1e-4
    # forward values are identical whatever the cut
    ls = _inputs()
    for a, b in zip(_layer("all")[0](ls), _layer("others")[0](ls)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_config_round_trip():
    layer, _ = _layer("others", "relu")
    clone = CTFM.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    clone.build([(None, D)] * K)
    clone.set_weights(layer.get_weights())
    ls = _inputs(3)
    for a, b in zip(layer(ls), clone(ls)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_errors_name_the_culprit():
    with pytest.raises(ValueError, match="stop_gradient='some'"):
        CTFM(2, stop_gradient="some")
    with pytest.raises(ValueError, match="widths \\[4, 6\\]"):
        CTFM(2)([np.ones((2, 4), "float32"), np.ones((2, 6), "float32")])
    with pytest.raises(ValueError, match="built for 3 tasks but received a list of 2"):
        CTFM(3)([np.ones((2, 4), "float32")] * 2)
    with pytest.raises(ValueError, match="list of per-task tensors"):
        CTFM(2)(np.ones((2, 4), "float32"))
    assert keras.saving.get_registered_name(CTFM) == "tfmtl>CTFM"
