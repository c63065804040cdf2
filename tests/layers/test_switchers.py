"""Every foundation switcher against numpy references of its equations, plus its errors."""

import numpy as np
import pytest

from tests.layers import reference as ref
from tfmtl.layers import CGC, PLE, MLMMoE, MMoE, OMoE, SharedBottom, SingleTask
from tfmtl.models import make_switcher

X = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")


def _np(outs):
    return [np.asarray(o) for o in outs]


def test_mmoe_gating_matches_numpy():
    layer = MMoE(num_outputs=2, num_experts=3, expert_units=[4])
    outs, gates = layer(X, return_gates=True)
    experts = ref.expert_bank(layer.experts, X)
    for k in range(2):
        w = ref.gate(layer.gates[k], X)
        np.testing.assert_allclose(np.asarray(gates[k]), w, atol=1e-6)
        np.testing.assert_allclose(np.asarray(outs[k]), ref.mix(w, experts), atol=1e-5)


def test_omoe_uses_one_gate_for_every_task():
    layer = OMoE(num_outputs=3, num_experts=2, expert_units=[4])
    outs = _np(layer(X))
    w = ref.gate(layer.gates[0], X)
    for o in outs:
        np.testing.assert_allclose(o, ref.mix(w, ref.expert_bank(layer.experts, X)), atol=1e-5)


def test_cgc_equations_2_to_5():
    layer = CGC(
        num_outputs=2,
        num_task_experts=2,
        num_shared_experts=1,
        expert_units=[4, 3],
    )
    outs, gates = layer(X, return_gates=True)
    expect, expect_gates = ref.cgc(layer, [X, X], X)
    for got, want in zip(_np(outs), expect):
        np.testing.assert_allclose(got, want, atol=1e-5)
    # Each task gate spans only its own experts plus the shared ones (eq 4): m_k + m_s.
    assert [tuple(g.shape) for g in gates] == [(6, 3), (6, 3)]
    for g, w in zip(_np(gates), expect_gates):
        np.testing.assert_allclose(g, w, atol=1e-6)


def test_cgc_task_output_ignores_other_tasks_experts():
    layer = CGC(num_outputs=2, num_task_experts=1, num_shared_experts=1, expert_units=[4])
    before = _np(layer(X))
    kernel = np.asarray(layer.task_experts.kernels[0]).copy()
    kernel[1] += 5.0  # perturb task 1's expert only
    layer.task_experts.kernels[0].assign(kernel)
    after = _np(layer(X))
    np.testing.assert_allclose(after[0], before[0], atol=1e-6)
    assert not np.allclose(after[1], before[1])


def test_ple_equations_6_and_7():
    layer = PLE(
        num_outputs=2,
        num_levels=2,
        num_task_experts=1,
        num_shared_experts=2,
        expert_units=[[4], [3]],
    )
    outs = _np(layer(X))
    low, high = layer.levels
    h, _ = ref.cgc(low, [X, X], X)  # level 1: task views + shared gate output (eq 6)
    assert len(h) == 3
    expect, _ = ref.cgc(high, h[:2], h[2])  # level 2 gates read level-1 outputs (eq 6, 7)
    for got, want in zip(outs, expect):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_ml_mmoe_levels_share_the_input_selector():
    layer = MLMMoE(num_outputs=2, num_experts=2, expert_units=[[4], [3]], num_levels=2)
    outs = _np(layer(X))
    h = ref.expert_bank(layer.levels[0], X)
    g = layer.expert_gates[0]
    w = ref.softmax((X @ np.asarray(g.kernel) + np.asarray(g.bias)).reshape(6, 2, 2))
    h = ref.expert_bank(layer.levels[1], np.einsum("bfe,beu->bfu", w, h))
    for k in range(2):
        np.testing.assert_allclose(outs[k], ref.mix(ref.gate(layer.task_gates[k], X), h), atol=1e-5)


def test_shared_bottom_and_single_task():
    sb = SharedBottom(num_outputs=2, units=[4])
    a, b = _np(sb(X))
    np.testing.assert_allclose(a, b)
    st = SingleTask(num_outputs=2, units=[4])
    outs = _np(st(X))
    full = ref.expert_bank(st.bottoms, X)
    for k in range(2):
        np.testing.assert_allclose(outs[k], full[:, k], atol=1e-5)


def test_list_input_output_k_reads_view_k():
    views = [X, X[::-1].copy()]
    for layer in (MMoE(2, 3, [4]), SingleTask(2, [4]), SharedBottom(2, [4])):
        outs = _np(layer(views))
        single_0 = _np(layer(views[0]))[0]
        single_1 = _np(layer(views[1]))[1]
        np.testing.assert_allclose(outs[0], single_0, atol=1e-5)
        np.testing.assert_allclose(outs[1], single_1, atol=1e-5)


def test_cgc_views_with_shared_view():
    layer = CGC(2, 1, 1, [4], shared_output=True)
    views = [X, X * 2.0, X[::-1].copy()]
    outs = _np(layer(views))
    expect, _ = ref.cgc(layer, views[:2], views[2])
    for got, want in zip(outs, expect):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_wrong_view_count_is_named():
    with pytest.raises(ValueError, match="list of 3"):
        MMoE(2, 2, [4])([X, X, X])


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="num_outputs=0"):
        MMoE(0, 2, [4])
    with pytest.raises(ValueError, match="num_task_experts=0, num_shared_experts=0"):
        CGC(2, 0, 0, [4])
    with pytest.raises(ValueError, match="3 expert_units lists for num_levels=2"):
        PLE(2, 1, 1, [[4], [4], [4]], num_levels=2)
    with pytest.raises(ValueError, match="no hyper-parameter"):
        make_switcher("mmoe", 2, num_levels=3)
    with pytest.raises(ValueError, match="Unknown model 'moe'"):
        make_switcher("moe", 2)
