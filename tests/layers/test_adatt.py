"""AdaTT against an independent numpy reference of eq 2-10 (eq 7 as LF + GF, not eq 11's sum)."""

import numpy as np
import pytest

from tests.layers import reference as ref
from tfmtl.layers import AdaTT, AdaTTSp

RNG = np.random.default_rng(0)
X = RNG.normal(size=(5, 6)).astype("float32")
VIEWS = [RNG.normal(size=(5, 6)).astype("float32") for _ in range(3)]


def _randomise_native(layer):
    for v in layer.native_weights:
        v.assign(RNG.normal(size=tuple(v.shape)).astype("float32"))


def reference_adatt(layer, task_views, shared_view):
    """AdaTT eq 2-10 literally: per task, NativeExpertLF (eq 8) + AllExpertGF (eq 9)."""
    counts, m_s, t = layer._counts, layer.num_shared_experts, layer.num_outputs
    starts = np.concatenate([[0], np.cumsum(counts)])
    gates_out = []
    for j in range(layer.num_levels):
        experts = []
        for k in range(t):  # eq 4: task k's experts read f^{l-1}_k only
            full = ref.expert_bank(layer.task_experts[j], task_views[k])
            experts.append(full[:, starts[k] : starts[k + 1]])
        E = np.concatenate(
            experts + ([ref.expert_bank(layer.shared_experts[j], shared_view)] if m_s else []),
            axis=1,
        )
        outs = []
        for k in range(t):
            g = ref.gate(layer.task_gates[j][k], task_views[k])  # eq 10
            gates_out.append(g)
            gf = np.einsum("be,beu->bu", g, E)  # eq 9
            if layer.native_fusion:
                v = np.asarray(layer.native_weights[j])[starts[k] : starts[k + 1]]
                if counts[k] == 1:
                    v = np.ones_like(v)  # a single native expert keeps unit weight
                lf = np.einsum("e,beu->bu", v, experts[k])  # eq 8
                outs.append(gf + lf)  # eq 7
            else:
                outs.append(gf)
        if m_s and j < layer.num_levels - 1:
            gs = ref.gate(layer.shared_gates[j], shared_view)
            gates_out.append(gs)
            shared_view = np.einsum("be,beu->bu", gs, E)
        task_views = outs
    return task_views, gates_out


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(num_task_experts=2, num_shared_experts=0),  # AdaTT-sp
        dict(num_task_experts=2, num_shared_experts=2),  # general AdaTT
        dict(num_task_experts=[1, 2, 3], num_shared_experts=1),  # unequal native experts
        dict(num_task_experts=2, num_shared_experts=1, native_fusion=False),  # Table 6 ablation
    ],
)
@pytest.mark.parametrize("views", [False, True])
def test_fusion_matches_numpy_eq_7_to_10(kwargs, views):
    layer = AdaTT(num_outputs=3, expert_units=[[4], [3]], num_levels=2, **kwargs)
    inputs = VIEWS if views else X
    layer(inputs)
    if layer.native_fusion:
        _randomise_native(layer)
    outs, gates = layer(inputs, return_gates=True)
    task_views = VIEWS if views else [X] * 3
    shared_view = np.mean(VIEWS, axis=0) if views else X
    expect, expect_gates = reference_adatt(layer, task_views, shared_view)
    assert len(outs) == 3 and len(gates) == len(layer.gate_names) == len(expect_gates)
    for got, want in zip(outs, expect):
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)
    for got, want in zip(gates, expect_gates):
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-6)


def test_gates_span_all_experts_and_sum_to_one():
    layer = AdaTT(
        num_outputs=3,
        num_task_experts=2,
        num_shared_experts=1,
        expert_units=[8, 4],
    )
    _, gates = layer(X, return_gates=True)
    assert layer.gate_names == [
        "level_0/task_0",
        "level_0/task_1",
        "level_0/task_2",
        "level_0/shared",
        "level_1/task_0",
        "level_1/task_1",
        "level_1/task_2",
    ]
    for g in gates:
        g = np.asarray(g)
        assert g.shape == (5, 7)  # AllExpertGF weighs every task's experts and the shared ones
        np.testing.assert_allclose(g.sum(axis=1), 1.0, atol=1e-6)


def test_single_native_expert_has_fixed_unit_weight():
    layer = AdaTTSp(num_outputs=2, num_task_experts=1, expert_units=[4], num_levels=1)
    layer(X)
    layer.native_weights[0].assign(np.full((2,), 7.0, "float32"))  # ignored: m_t = 1
    outs, (g0, g1) = layer(X, return_gates=True)
    E = ref.expert_bank(layer.task_experts[0], X)
    for k, g in enumerate((g0, g1)):
        want = E[:, k] + np.einsum("be,beu->bu", np.asarray(g), E)
        np.testing.assert_allclose(np.asarray(outs[k]), want, atol=1e-5)


def test_native_weight_matrix_is_eq_11_padding():
    layer = AdaTT(
        num_outputs=2, num_task_experts=2, num_shared_experts=1, expert_units=[4], num_levels=1
    )
    layer(X)
    layer.native_weights[0].assign(np.array([1.0, 2.0, 3.0, 4.0], "float32"))
    np.testing.assert_allclose(layer.native_weight_matrix(0), [[1, 2, 0, 0, 0], [0, 0, 3, 4, 0]])


def test_ablation_has_no_native_weights():
    layer = AdaTT(num_outputs=2, num_task_experts=2, expert_units=[4], native_fusion=False)
    layer(X)
    assert layer.native_weights == []
    assert not any("native" in w.path for w in layer.weights)
    np.testing.assert_allclose(layer.native_weight_matrix(1), np.zeros((2, 4)))


def test_task_experts_read_only_their_own_view():
    layer = AdaTTSp(num_outputs=2, num_task_experts=1, expert_units=[4], num_levels=1)
    _, gates = layer([VIEWS[0], VIEWS[1]], return_gates=True)
    _, gates2 = layer([VIEWS[0], VIEWS[2]], return_gates=True)
    np.testing.assert_allclose(
        np.asarray(gates[0]), np.asarray(gates2[0]), atol=1e-6
    )  # task 0's gate: view 0
    assert not np.allclose(np.asarray(gates[1]), np.asarray(gates2[1]))


def test_config_round_trip():
    layer = AdaTT(
        num_outputs=3,
        num_task_experts=[1, 2, 1],
        num_shared_experts=2,
        expert_units=[[8], [4]],
        native_fusion=False,
    )
    clone = AdaTT.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    sp = AdaTTSp.from_config(AdaTTSp(2, 3, [8]).get_config())
    assert sp.num_shared_experts == 0 and sp.num_task_experts == 3


@pytest.mark.parametrize(
    "kwargs, culprit",
    [
        (dict(num_task_experts=[1, 2]), "num_task_experts"),
        (dict(num_task_experts=0), "num_task_experts"),
        (dict(num_task_experts=1, num_shared_experts=-1), "num_shared_experts"),
        (dict(num_task_experts=1, num_levels=0), "num_levels"),
        (dict(num_task_experts=1, expert_units=[[4], [4], [4]]), "expert_units"),
    ],
)
def test_errors_name_the_culprit(kwargs, culprit):
    kwargs.setdefault("expert_units", [4])
    with pytest.raises(ValueError, match=culprit):
        AdaTT(num_outputs=3, **kwargs)


def test_adatt_sp_refuses_shared_experts():
    with pytest.raises(ValueError, match="num_shared_experts=2"):
        AdaTTSp(num_outputs=2, num_task_experts=1, expert_units=[4], num_shared_experts=2)


def test_explicit_shared_view_feeds_the_shared_unit():
    shared = RNG.normal(size=(5, 6)).astype("float32")
    layer = AdaTT(
        num_outputs=3,
        num_task_experts=1,
        num_shared_experts=2,
        expert_units=[[4], [3]],
    )
    outs, gates = layer(VIEWS + [shared], return_gates=True)
    expect, expect_gates = reference_adatt(layer, VIEWS, shared)
    for got, want in zip(list(outs) + list(gates), expect + expect_gates):
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)
