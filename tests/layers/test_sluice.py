"""Sluice against numpy: subspace α mixing across tasks, β layer mix, orthogonality penalty."""

import numpy as np
import pytest

from tests.layers import reference as ref
from tfmtl.layers import Sluice

RNG = np.random.default_rng(2)
X = RNG.normal(size=(4, 5)).astype("float32")


def reference_sluice(layer, x):
    t, g = layer.num_outputs, layer.num_subspaces
    h, layers, penalty = np.repeat(x[:, None], t, axis=1), [], 0.0
    for bank, alpha, u in zip(layer.columns, layer.alphas, layer.units):
        cols = ref.expert_bank(bank, h)  # [B, T, u]
        sub = cols.reshape(len(x), t, g, u // g)
        for k in range(t):  # eq 3: ||H_g^T H_h||_F^2 / B for g < h
            for a in range(g):
                for b in range(a + 1, g):
                    penalty += np.sum((sub[:, k, a].T @ sub[:, k, b] / len(x)) ** 2)
        flat = sub.reshape(len(x), t * g, u // g)
        mixed = np.einsum("ij,bjv->biv", np.asarray(alpha), flat)  # eq 1 over (task, subspace)
        h = mixed.reshape(len(x), t, u)
        layers.append(h)
    beta = np.asarray(layer.beta)
    if layer.combine == "sum":
        outs = [sum(beta[k, j] * layers[j][:, k] for j in range(len(layers))) for k in range(t)]
    else:
        outs = [
            np.concatenate([beta[k, j] * layers[j][:, k] for j in range(len(layers))], -1)
            for k in range(t)
        ]
    return outs, penalty


@pytest.mark.parametrize("combine, units", [("sum", [4, 4]), ("concat", [6, 4])])
def test_alpha_beta_mixing_matches_numpy(combine, units):
    layer = Sluice(num_outputs=2, units=units, num_subspaces=2, combine=combine)
    layer(X)
    for a in layer.alphas:
        a.assign(RNG.normal(size=tuple(a.shape)).astype("float32"))
    layer.beta.assign(RNG.normal(size=tuple(layer.beta.shape)).astype("float32"))
    got = layer(X)
    want, _ = reference_sluice(layer, X)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, atol=1e-5)


def test_alpha_mixes_subspaces_across_tasks():
    layer = Sluice(num_outputs=2, units=[4], num_subspaces=2)
    layer(X)
    assert tuple(layer.alphas[0].shape) == (4, 4)  # (task, subspace) x (task, subspace)
    np.testing.assert_allclose(np.asarray(layer.alphas[0]).sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.asarray(layer.beta), [[1.0], [1.0]])  # β starts at the top layer


def test_orthogonality_penalty_is_added_as_a_loss():
    layer = Sluice(num_outputs=2, units=[4, 4], num_subspaces=2, orthogonality_weight=0.5)
    layer(X)
    _, penalty = reference_sluice(layer, X)
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), 0.5 * penalty, rtol=1e-4)
    quiet = Sluice(num_outputs=2, units=[4], num_subspaces=2)
    quiet(X)
    assert quiet.losses == []


def test_config_round_trip():
    layer = Sluice(
        num_outputs=3, units=[6, 4], num_subspaces=2, combine="concat", orthogonality_weight=0.1
    )
    assert Sluice.from_config(layer.get_config()).get_config() == layer.get_config()


@pytest.mark.parametrize(
    "kwargs, culprit",
    [
        (dict(units=[5], num_subspaces=2), "num_subspaces"),
        (dict(units=[4, 6], combine="sum"), "units"),
        (dict(units=[4], combine="max"), "combine"),
    ],
)
def test_errors_name_the_culprit(kwargs, culprit):
    with pytest.raises(ValueError, match=culprit):
        Sluice(num_outputs=2, **kwargs)
