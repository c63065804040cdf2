"""DMLTowers (DML eq 5-7): which task losses reach which tower inputs, per variant."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.layers import CTFM, GKD, DMLTowers, Tower

K, D, B = 3, 6, 4
KINDS = ["binary", "regression", "binary"]


def _towers(**kw):
    layer = DMLTowers([[5], [4, 3], [5]], KINDS, gkd_units=[4], **kw)
    layer.build([(None, D)] * K)
    return layer


def _input_grads(layer, task):
    rng = np.random.default_rng(0)
    ls = [tf.Variable(rng.normal(size=(B, D)).astype("float32")) for _ in range(K)]
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(list(ls))[task])
    return [0.0 if g is None else float(tf.reduce_sum(tf.abs(g))) for g in tape.gradient(loss, ls)]


@pytest.mark.parametrize(
    "kw",
    [
        {"ctfm": True, "gkd": True},  # DML
        {"ctfm": True, "gkd": False},  # + CTFM
        {"ctfm": False, "gkd": True},  # + GKD
        {"ctfm": False, "gkd": False},  # plain towers
        {"ctfm": True, "gkd": True, "ctfm_stop_gradient": "others", "gkd_stop_gradient": "others"},
    ],
)
def test_task_loss_reaches_only_its_own_tower_input(kw):
    layer = _towers(**kw)
    for task in range(K):
        grads = _input_grads(layer, task)
        assert grads[task] > 1e-4
        assert [g for i, g in enumerate(grads) if i != task] == [0.0] * (K - 1)


def test_dml_v0_lets_a_task_loss_reach_the_other_tower_inputs():
    layer = _towers(ctfm=True, gkd=True, ctfm_stop_gradient="none")
    for task in range(K):
        assert all(g > 1e-6 for g in _input_grads(layer, task))


def test_composition_and_heads():
    layer = _towers()
    assert isinstance(layer.cross, CTFM) and all(isinstance(h, GKD) for h in layer.heads)
    assert [h.kind for h in layer.heads] == KINDS and [h.task_index for h in layer.heads] == [
        0,
        1,
        2,
    ]
    plain = _towers(ctfm=False, gkd=False)
    assert plain.cross is None and all(isinstance(h, Tower) for h in plain.heads)
    outs = layer([np.full((B, D), 3.0, "float32")] * K)
    assert [tuple(o.shape) for o in outs] == [(B,)] * K
    p = np.asarray(outs[0])
    assert ((p > 0) & (p < 1)).all()  # binary head is a probability


def test_config_round_trip_gives_identical_outputs():
    layer = _towers(ctfm_stop_gradient="none", dropout=0.1)
    clone = DMLTowers.from_config(layer.get_config())
    clone.build([(None, D)] * K)
    clone.set_weights(layer.get_weights())
    xs = [np.random.default_rng(i).normal(size=(B, D)).astype("float32") for i in range(K)]
    for a, b in zip(layer(xs), clone(xs)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_errors_name_the_culprit():
    with pytest.raises(ValueError, match="2 tower_units and 3 kinds"):
        DMLTowers([[4], [4]], KINDS)
    with pytest.raises(ValueError, match="kinds=\\['binary', 'count'\\]"):
        DMLTowers([[4], [4]], ["binary", "count"])
    with pytest.raises(ValueError, match="tower_units=\\[\\[4\\], \\[\\]\\]"):
        DMLTowers([[4], []], ["binary", "binary"])
