"""AITM's AIT module (eq 2-5) and behavioural calibrator (eq 7) against numpy."""

import numpy as np
import pytest

from tfmtl.layers import AITM, BehaviourCalibration

RNG = np.random.default_rng(5)
Q = [RNG.normal(size=(4, 3)).astype("float32") for _ in range(3)]


def dense(layer, x, act=None):
    y = x @ np.asarray(layer.kernel) + np.asarray(layer.bias)
    return np.maximum(y, 0.0) if act == "relu" else y


def test_ait_matches_numpy():
    layer = AITM(return_attention=True)
    z, weights = layer(Q)
    want, prev = [Q[0]], Q[0]
    for t in range(1, 3):
        p = dense(layer.transfer[t - 1], prev, "relu")  # p_{t-1} = g(z_{t-1})
        u = np.stack([p, Q[t]], axis=1)
        s = (dense(layer.h1[t - 1], u) * dense(layer.h2[t - 1], u)).sum(-1) / np.sqrt(3)
        w = np.exp(s - s.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)  # eq 4
        prev = np.einsum("bu,bud->bd", w, dense(layer.h3[t - 1], u))  # eq 3
        want.append(prev)
        np.testing.assert_allclose(np.asarray(weights[t - 1]), w, atol=1e-6)
    for g, w in zip(z, want):
        np.testing.assert_allclose(np.asarray(g), w, atol=1e-5)


def test_ait_needs_one_width():
    with pytest.raises(ValueError, match="one width"):
        AITM()([np.ones((2, 3), "float32"), np.ones((2, 4), "float32")])


def test_calibrator_penalises_only_a_likelier_later_step():
    y1 = np.array([0.5, 0.2, 0.1], "float32")
    y2 = np.array([0.1, 0.4, 0.1], "float32")  # row 1 breaks y2 <= y1 by 0.2
    layer = BehaviourCalibration(weight=0.6)
    out = layer([y1, y2])
    np.testing.assert_allclose(np.asarray(out[1]), y2)
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), 0.6 * 0.2 / 3, rtol=1e-5)
    silent = BehaviourCalibration(weight=0.6)
    silent([y2 * 0 + 0.1, y2 * 0 + 0.05])
    np.testing.assert_allclose(float(silent.losses[0]), 0.0)


def test_calibrator_rejects_negative_weight():
    with pytest.raises(ValueError, match="weight=-1"):
        BehaviourCalibration(weight=-1)
