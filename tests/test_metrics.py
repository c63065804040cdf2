import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from tfmtl import metrics

RNG = np.random.default_rng(0)
Y = (RNG.random(500) < 0.3).astype(float)
P = np.clip(0.3 + 0.3 * (Y - 0.3) + RNG.normal(scale=0.2, size=500), 0.01, 0.99).round(2)  # ties


def test_auc_matches_sklearn_with_ties_and_drops_nan_labels():
    y = Y.copy()
    y[:50] = np.nan
    assert metrics.auc(y, P) == pytest.approx(roc_auc_score(Y[50:], P[50:]), abs=1e-12)


def test_ne_is_logloss_over_base_rate_entropy():
    rate = Y.mean()
    entropy = -(rate * np.log(rate) + (1 - rate) * np.log(1 - rate))
    assert metrics.normalized_entropy(Y, P) == pytest.approx(log_loss(Y, P) / entropy, rel=1e-6)
    assert metrics.normalized_entropy(Y, np.full(500, rate)) == pytest.approx(1.0, rel=1e-6)


def test_mtl_gain_eq11_signs():
    assert metrics.mtl_gain(0.80, 0.78) == pytest.approx(0.02)
    assert metrics.mtl_gain(0.10, 0.12, higher_is_better=False) == pytest.approx(0.02)


def test_keras_masked_auc_agrees_with_exact_auc():
    y = Y.astype("float32").copy()
    y[::7] = np.nan
    m = metrics.MaskedAUC(num_thresholds=5000)
    m.update_state(y, P.astype("float32"))
    assert float(m.result()) == pytest.approx(metrics.auc(y, P), abs=2e-3)


def test_keras_masked_mse():
    m = metrics.MaskedMSE()
    m.update_state(np.array([1.0, np.nan, 2.0], "float32"), np.array([0.0, 9.0, 4.0], "float32"))
    assert float(m.result()) == pytest.approx(2.5)


def test_expert_utilisation_and_plot(tmp_path):
    w = RNG.dirichlet(np.ones(3), size=100)
    u = metrics.expert_utilisation({"task_0": w})
    np.testing.assert_allclose(u["task_0"]["mean"], w.mean(axis=0))
    np.testing.assert_allclose(u["task_0"]["std"], w.std(axis=0))
    metrics.plot_expert_utilisation(u, str(tmp_path / "u.png"))
    assert (tmp_path / "u.png").read_bytes()[:4] == b"\x89PNG"
