"""TRM (DTRN §3.4, eq 9): numbers against numpy, list and shared inputs, errors."""

import numpy as np
import pytest

from tfmtl.layers.trm import TRM


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _trm(num_tasks=3, units=4, width=5, seed=0):
    trm = TRM(num_tasks, units)
    trm.build((None, width))
    rng = np.random.default_rng(seed)
    for w in trm.weights:
        w.assign(rng.normal(size=w.shape).astype("float32"))
    return trm


def _reference(trm, raws):
    w = {v.path.split("/", 1)[1]: np.asarray(v) for v in trm.weights}
    k1, b1, k2, b2 = (
        w["hidden/kernel_0"],
        w["hidden/bias_0"],
        w["refine/kernel_0"],
        w["refine/bias_0"],
    )
    # eq 9: r_i = raw_i ⊙ sigmoid(ReLU(raw_i W1_i + b1_i) W2_i + b2_i)
    return [
        raw * _sigmoid(np.maximum(raw @ k1[i] + b1[i], 0) @ k2[i] + b2[i])
        for i, raw in enumerate(raws)
    ]


def test_trm_per_task_views_match_numpy():
    trm = _trm()
    raws = [np.random.default_rng(i).normal(size=(2, 5)).astype("float32") for i in range(3)]
    got = trm(raws)
    for g, r in zip(got, _reference(trm, raws)):
        np.testing.assert_allclose(np.asarray(g), r, atol=1e-6)


def test_trm_shared_input_is_refined_per_task():
    trm = _trm()
    raw = np.random.default_rng(9).normal(size=(2, 5)).astype("float32")
    got = [np.asarray(g) for g in trm(raw)]
    for g, r in zip(got, _reference(trm, [raw] * 3)):
        np.testing.assert_allclose(g, r, atol=1e-6)
    assert not np.allclose(got[0], got[1])  # one refinement network per task
    refine = np.asarray(trm.refinement(raw))
    assert refine.shape == (2, 3, 5) and (refine > 0).all() and (refine < 1).all()


def test_config_round_trip_and_errors():
    trm = TRM(2, units=7, name="trm")
    assert TRM.from_config(trm.get_config()).get_config() == trm.get_config()
    with pytest.raises(ValueError, match="units"):
        TRM(2, units=0)
    with pytest.raises(ValueError, match="num_tasks=2"):
        TRM(2)([np.ones((1, 3), "float32")] * 3)
    with pytest.raises(ValueError, match="widths"):
        TRM(2)([np.ones((1, 3), "float32"), np.ones((1, 4), "float32")])
