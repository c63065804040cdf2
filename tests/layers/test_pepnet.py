"""GateNU, EPNet, PPNetTower (PEPNet eq 1-8): numpy references, stop-gradients, round trip,
errors."""

import keras
import numpy as np
import pytest

from tfmtl.layers.pepnet import EPNet, GateNU
from tfmtl.layers.ppnet import PPNetTower

B, D, DD, DP = 6, 5, 2, 3
RNG = np.random.default_rng(0)
EMB = RNG.normal(size=(B, D)).astype("float32")
DOMAIN = RNG.normal(size=(B, DD)).astype("float32")
PRIOR = RNG.normal(size=(B, DP)).astype("float32")
TF_ONLY = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="GradientTape checks run on TensorFlow"
)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _randomise(layer, seed=1):
    """Non-trivial weights (biases too), so a reference that ignores one would fail."""
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(scale=0.7, size=w.shape) for w in layer.get_weights()])


def gate_nu(gate, x, gamma=2.0):
    """PEPNet eq 1-2 in numpy: gamma * sigmoid(relu(x W + b) W' + b')."""
    w1, b1 = (np.asarray(v) for v in (gate.hidden.kernel, gate.hidden.bias))
    w2, b2 = (np.asarray(v) for v in (gate.out.kernel, gate.out.bias))
    return gamma * _sigmoid(np.maximum(x @ w1 + b1, 0.0) @ w2 + b2)


def ppnet_tower(tower, x, prior):
    """PEPNet eq 5-8 in numpy: h_l <- gate_l(prior ⊕ x) * relu(h W_l + b_l), then the head."""
    condition, h, gates = np.concatenate([prior, x], axis=-1), x, []
    for dense, gate in zip(tower.dense_layers, tower.gates):
        delta = gate_nu(gate, condition, tower.gamma)
        h = delta * np.maximum(h @ np.asarray(dense.kernel) + np.asarray(dense.bias), 0.0)
        gates.append(delta)
    z = (h @ np.asarray(tower.head.kernel) + np.asarray(tower.head.bias))[:, 0]
    return (_sigmoid(z) if tower.kind == "binary" else z), gates


@pytest.mark.parametrize("gamma", [2.0, 1.0])
def test_gate_nu_matches_eq_1_2_and_stays_in_range(gamma):
    gate = GateNU(units=4, output_dim=3, gamma=gamma)
    gate.build((None, D))
    _randomise(gate)
    delta = np.asarray(gate(EMB))
    np.testing.assert_allclose(delta, gate_nu(gate, EMB, gamma), rtol=1e-5, atol=1e-6)
    assert delta.shape == (B, 3) and ((delta > 0) & (delta < gamma)).all()
    big = np.asarray(gate(100 * EMB))  # saturates towards 0 or gamma, never past them
    assert (big >= 0).all() and (big <= gamma).all()


def test_epnet_matches_eq_3_4():
    epnet = EPNet(gate_units=4)
    out, delta = epnet([EMB, DOMAIN], return_gates=True)
    _randomise(epnet)
    out, delta = (np.asarray(t) for t in epnet([EMB, DOMAIN], return_gates=True))
    want_delta = gate_nu(epnet.gate, np.concatenate([DOMAIN, EMB], axis=-1))
    np.testing.assert_allclose(delta, want_delta, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out, want_delta * EMB, rtol=1e-5, atol=1e-6)
    assert out.shape == delta.shape == (B, D)
    np.testing.assert_allclose(np.asarray(epnet([EMB, DOMAIN])), out, rtol=1e-6)


@pytest.mark.parametrize("kind", ["binary", "regression"])
def test_ppnet_tower_matches_eq_5_8(kind):
    tower = PPNetTower([4, 3], kind=kind, gate_units=4)
    tower([EMB, PRIOR])
    _randomise(tower)
    score, gates = tower([EMB, PRIOR], return_gates=True)
    want, want_gates = ppnet_tower(tower, EMB, PRIOR)
    np.testing.assert_allclose(np.asarray(score), want, rtol=1e-5, atol=1e-5)
    for got, ref in zip(gates, want_gates):
        np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-5, atol=1e-6)
    assert tuple(score.shape) == (B,) and keras.backend.standardize_dtype(score.dtype) == "float32"
    assert [tuple(g.shape) for g in gates] == [(B, 4), (B, 3)]
    if kind == "binary":
        assert ((np.asarray(score) > 0) & (np.asarray(score) < 1)).all()


def test_tower_without_hidden_layers_is_the_head():
    tower = PPNetTower([], kind="regression")
    score, gates = tower([EMB, PRIOR], return_gates=True)
    head = tower.head
    want = (EMB @ np.asarray(head.kernel) + np.asarray(head.bias))[:, 0]
    np.testing.assert_allclose(np.asarray(score), want, rtol=1e-5, atol=1e-6)
    assert gates == []


@TF_ONLY
def test_epnet_gate_path_carries_no_gradient_to_the_embedding():
    import tensorflow as tf

    epnet = EPNet(gate_units=4)
    epnet([EMB, DOMAIN])
    _randomise(epnet)
    e, d = tf.constant(EMB), tf.constant(DOMAIN)
    weights = tf.constant(RNG.normal(size=(B, D)).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([e, d])
        out, delta = epnet([e, d], return_gates=True)
        loss = tf.reduce_sum(weights * out)
        # The same formula without the stop-gradient: what the test must tell apart.
        leaky = tf.reduce_sum(weights * epnet.gate(tf.concat([d, e], axis=-1)) * e)
    # d(sum w * delta * e)/de with delta held constant: only the main path (eq 4).
    np.testing.assert_allclose(tape.gradient(loss, e), weights * delta, rtol=1e-5, atol=1e-6)
    assert np.abs(tape.gradient(leaky, e) - weights * delta).max() > 1e-3
    assert np.abs(tape.gradient(loss, d)).max() > 1e-4  # domain embeddings learn via the gate


@TF_ONLY
def test_ppnet_gates_carry_no_gradient_to_the_tower_input():
    import tensorflow as tf

    tower = PPNetTower([4, 3], kind="binary", gate_units=4)
    tower([EMB, PRIOR])
    _randomise(tower)
    x, p = tf.constant(EMB), tf.constant(PRIOR)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, p])
        score, gates = tower([x, p], return_gates=True)
        loss = tf.reduce_sum(score)
        # The main path alone: the same layers with the gates fed in as constants.
        h = x
        for dense, delta in zip(tower.dense_layers, gates):
            h = tf.stop_gradient(delta) * dense(h)
        main_only = tf.reduce_sum(tf.sigmoid(tf.squeeze(tower.head(h), -1)))
    np.testing.assert_allclose(loss, main_only, rtol=1e-6)
    np.testing.assert_allclose(
        tape.gradient(loss, x), tape.gradient(main_only, x), rtol=1e-5, atol=1e-7
    )
    assert np.abs(tape.gradient(loss, p)).max() > 1e-5  # the prior learns through the gates


def test_keras_file_round_trip(tmp_path):
    sizes = (("e", D), ("d", DD), ("p", DP))
    emb, domain, prior = (keras.Input(shape=(n,), name=k) for k, n in sizes)
    o_ep = EPNet(gate_units=4, gamma=1.5, name="epnet")([emb, domain])
    heads = {
        "ctr": PPNetTower([4], gate_units=3, name="tower_ctr")([o_ep, prior]),
        "watch": PPNetTower([4, 2], "regression", 3, 0.1, name="tower_watch")([o_ep, prior]),
    }
    model = keras.Model([emb, domain, prior], heads)
    for layer in model.layers[3:]:
        _randomise(layer)
    model.save(tmp_path / "pepnet.keras")
    restored = keras.saving.load_model(tmp_path / "pepnet.keras")
    want = model.predict([EMB, DOMAIN, PRIOR], verbose=0)
    got = restored.predict([EMB, DOMAIN, PRIOR], verbose=0)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=1e-6)
    assert restored.get_layer("epnet").gamma == 1.5
    assert restored.get_layer("tower_watch").get_config()["dropout"] == 0.1
    for layer in (GateNU(3, 2, 1.5), EPNet(8, 1.5), PPNetTower([4], "regression", 8, 0.1, 1.5)):
        again = type(layer).from_config(layer.get_config())
        assert again.get_config() == layer.get_config()


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="GateNU needs gate_units >= 1 and gamma > 0"):
        GateNU(0, 3)
    with pytest.raises(ValueError, match="GateNU needs output_dim >= 1. Received: output_dim=0"):
        GateNU(4, 0)
    with pytest.raises(ValueError, match="EPNet needs .* Received: gate_units=4, gamma=0.0"):
        EPNet(4, gamma=0.0)
    with pytest.raises(ValueError, match="EPNet takes a list \\[embedding, domain\\]"):
        EPNet(4)(EMB)
    with pytest.raises(ValueError, match="PPNetTower kind must be one of .* kind='rank'"):
        PPNetTower([4], kind="rank")
    with pytest.raises(ValueError, match="PPNetTower units must be positive"):
        PPNetTower([4, 0])
    with pytest.raises(ValueError, match="PPNetTower dropout must be in \\[0, 1\\)"):
        PPNetTower([4], dropout=1.0)
    with pytest.raises(ValueError, match="PPNetTower takes a list \\[x, prior\\]"):
        PPNetTower([4])(EMB)
