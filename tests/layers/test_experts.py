import numpy as np
import pytest

from tests.layers import reference as ref
from tfmtl.layers import MLP, ExpertBank, Gate, Tower


def test_expert_bank_is_each_expert_mlp():
    x = np.random.default_rng(0).normal(size=(5, 6)).astype("float32")
    bank = ExpertBank(num_experts=3, units=[4, 2])
    out = np.asarray(bank(x))
    assert out.shape == (5, 3, 2)
    np.testing.assert_allclose(out, ref.expert_bank(bank, x), atol=1e-5)


def test_expert_bank_per_expert_inputs():
    x = np.random.default_rng(1).normal(size=(5, 3, 6)).astype("float32")
    bank = ExpertBank(num_experts=3, units=[4])
    np.testing.assert_allclose(np.asarray(bank(x)), ref.expert_bank(bank, x), atol=1e-5)


def test_expert_bank_weights_are_one_kernel_per_layer():
    bank = ExpertBank(num_experts=8, units=[16, 4])
    bank.build((None, 10))
    assert [tuple(k.shape) for k in bank.kernels] == [(8, 10, 16), (8, 16, 4)]
    # Glorot scale per expert, not per stacked tensor.
    limit = np.sqrt(6.0 / (10 + 16))
    assert np.abs(np.asarray(bank.kernels[0])).max() <= limit + 1e-6
    assert np.abs(np.asarray(bank.kernels[0])).max() > 0.5 * limit


def test_gate_rows_sum_to_one_and_match_softmax():
    x = np.random.default_rng(2).normal(size=(7, 5)).astype("float32")
    g = Gate(num_experts=4)
    w = np.asarray(g(x))
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(w, ref.gate(g, x), atol=1e-6)


def test_tower_binary_is_probability_and_regression_is_linear():
    x = np.random.default_rng(3).normal(size=(6, 5)).astype("float32")
    binary, regression = Tower([4], kind="binary"), Tower([4], kind="regression")
    p, v = np.asarray(binary(x)), np.asarray(regression(x))
    assert p.shape == v.shape == (6,)
    assert ((p > 0) & (p < 1)).all()
    dense, head = regression.mlp.dense_layers[0], regression.head
    expect = (
        ref.relu(x @ np.asarray(dense.kernel) + np.asarray(dense.bias))
        @ np.asarray(head.kernel)[:, 0]
    )
    np.testing.assert_allclose(v, expect + np.asarray(head.bias)[0], atol=1e-5)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: ExpertBank(0, [4]), "num_experts=0"),
        (lambda: ExpertBank(2, []), "units=[]"),
        (lambda: Gate(0), "num_experts=0"),
        (lambda: MLP([4, -1]), "units=[4, -1]"),
        (lambda: MLP([4], dropout=1.5), "dropout=1.5"),
        (lambda: Tower([4], kind="poisson"), "kind='poisson'"),
    ],
)
def test_bad_arguments_name_the_value(make, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        make()
