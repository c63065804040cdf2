"""GKD (DML eq 7, §2.4): numpy reference, and the stop-gradient on the global knowledge input."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.layers import GKD

B, WIDTHS, D1 = 5, (4, 3, 4), 6


def _hidden(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(B, w)).astype("float32") for w in WIDTHS]


def _layer(task_index=1, kind="binary", stop_gradient="all", gate_units=(), seed=2):
    layer = GKD(
        task_index,
        kind=kind,
        global_units=[5, D1],
        gate_units=gate_units,
        stop_gradient=stop_gradient,
    )
    layer.build([(None, w) for w in WIDTHS])
    rng = np.random.default_rng(seed)
    layer.set_weights(
        [(rng.normal(size=w.shape) * 0.5).astype("float32") for w in layer.get_weights()]
    )
    return layer


def _dense(layer, x, act=None):
    kernel, bias = (np.asarray(w, np.float64) for w in layer.get_weights())
    z = x @ kernel + bias
    return {None: z, "relu": np.maximum(z, 0.0), "sigmoid": 1.0 / (1.0 + np.exp(-z))}[act]


def _reference(layer, hs):
    own = hs[layer.task_index].astype(np.float64)
    gk = np.concatenate(hs, axis=-1).astype(np.float64)
    for dense in layer.global_mlp.dense_layers:
        gk = _dense(dense, gk, "relu")
    g = np.concatenate([gk, own], axis=-1)
    for dense in layer.gate_mlp.dense_layers:
        g = _dense(dense, g, "relu")
    gw = _dense(layer.gate, g, "sigmoid")
    z = _dense(layer.head, np.concatenate([gk * gw, own], axis=-1))[:, 0]
    return 1.0 / (1.0 + np.exp(-z)) if layer.kind == "binary" else z


@pytest.mark.parametrize("kind", ["binary", "regression"])
@pytest.mark.parametrize("gate_units", [(), (3,)])
def test_matches_numpy_reference(kind, gate_units):
    layer = _layer(kind=kind, gate_units=gate_units)
    hs = _hidden()
    np.testing.assert_allclose(np.asarray(layer(hs)), _reference(layer, hs), atol=1e-5)


def _grads(layer):
    hs = [tf.Variable(h) for h in _hidden()]
    with tf.GradientTape(persistent=True) as tape:
        loss = tf.reduce_sum(layer(list(hs)))
    return tape.gradient(loss, hs), tape.gradient(loss, layer.global_mlp.trainable_weights)


def test_loss_reaches_own_hidden_only():
    layer = _layer(task_index=1)
    g_h, g_mlp = _grads(layer)
    assert float(tf.reduce_sum(tf.abs(g_h[1]))) > 1e-3  # own h^k: through the gate and the concat
    for j in (0, 2):
        assert (
            g_h[j] is None or float(tf.reduce_sum(tf.abs(g_h[j]))) == 0.0
        )  # §2.4: GK^k's input is cut
    assert all(
        float(tf.reduce_sum(tf.abs(g))) > 1e-4 for g in g_mlp
    )  # the global MLP itself learns


def test_all_cuts_the_own_global_path_others_keeps_it():
    g_all = _grads(_layer(task_index=1, stop_gradient="all"))[0]
    g_others = _grads(_layer(task_index=1, stop_gradient="others"))[0]
    assert float(tf.reduce_max(tf.abs(g_all[1] - g_others[1]))) > 1e-4
    for j in (0, 2):
        assert g_others[j] is None or float(tf.reduce_sum(tf.abs(g_others[j]))) == 0.0


def test_config_round_trip():
    layer = _layer(task_index=2, kind="regression", gate_units=(3,))
    clone = GKD.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    clone.build([(None, w) for w in WIDTHS])
    clone.set_weights(layer.get_weights())
    hs = _hidden(4)
    np.testing.assert_allclose(np.asarray(layer(hs)), np.asarray(clone(hs)), atol=1e-6)


def test_errors_name_the_culprit():
    with pytest.raises(ValueError, match="kind='ranking'"):
        GKD(0, kind="ranking")
    with pytest.raises(ValueError, match="stop_gradient='none'"):
        GKD(0, stop_gradient="none")
    with pytest.raises(ValueError, match="task_index=3"):
        GKD(3)([np.ones((2, 4), "float32")] * 2)
