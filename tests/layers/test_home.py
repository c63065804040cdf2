"""HoME: numbers against a numpy reference, the hierarchy mask, the Switcher contract, errors,
`.keras` round trip, a flat model that trains and serves the numbers it predicts."""

import keras
import numpy as np
import pytest

from tests.contracts import check_switcher
from tests.layers.reference import softmax
from tfmtl.layers.home import HoME
from tfmtl.layers.home_gates import FeatureGate, NormalizedExperts

B, D = 6, 5


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _np(v):
    return keras.ops.convert_to_numpy(v)


def _jitter(layer, seed=0, scale=0.5):
    """Every weight random (the feature-gate's B_e starts at 0, the norm's gamma at 1)."""
    rng = np.random.default_rng(seed)
    layer.set_weights(
        [rng.normal(scale=scale, size=w.shape).astype("float32") for w in layer.get_weights()]
    )


def _x(seed=0, rows=B):
    return np.random.default_rng(seed).normal(size=(rows, D)).astype("float32")


# -- the numpy reference, written from HoME §3.2-3.4, not from the layer's code ------------
def ref_feature_gate(gate, x):
    """x_e = x * 2 sigmoid(x A_e B_e); x is [B, D] or [B, E, D]."""
    a, b = _np(gate.down), _np(gate.up)
    views = []
    for e in range(a.shape[0]):
        xe = x if x.ndim == 2 else x[:, e]
        views.append(xe * 2.0 * _sigmoid(xe @ a[e] @ b[e]))
    return np.stack(views, axis=1)


def ref_experts(bank, x):
    """Each expert its own MLP of Swish(LayerNorm(h W + b)) layers."""
    outs = []
    for e in range(bank.num_experts):
        h = x if x.ndim == 2 else x[:, e]
        for k, b, g, o in zip(bank.kernels, bank.biases, bank.scales, bank.offsets):
            z = h @ _np(k)[e] + _np(b)[e]
            z = (z - z.mean(-1, keepdims=True)) / np.sqrt(z.var(-1, keepdims=True) + bank.epsilon)
            z = z * _np(g)[e] + _np(o)[e]
            h = z * _sigmoid(z)
        outs.append(h)
    return np.stack(outs, axis=1)


def hierarchy(num_experts, groups, num_tasks, k):
    """Indices of task k's experts in the level's layout: meta, then groups, then tasks."""
    m_s, m_g, m_t = num_experts
    g = [i for i, group in enumerate(groups) if k in group][0]
    group_start, task_start = m_s + g * m_g, m_s + len(groups) * m_g + k * m_t
    return (
        list(range(m_s))
        + list(range(group_start, group_start + m_g))
        + list(range(task_start, task_start + m_t))
    )


def ref_home(layer, task_inputs, groups):
    """Every level of HoME on T task inputs (all x for one shared input)."""
    t, (m_s, m_g, m_t) = layer.num_outputs, layer.num_experts
    ys, gates = list(task_inputs), []
    for j in range(layer.num_levels):
        per_expert = [np.mean(ys, axis=0)] * m_s
        for group in groups:
            per_expert += [np.mean([ys[k] for k in group], axis=0)] * m_g
        for k in range(t):
            per_expert += [ys[k]] * m_t
        h = np.stack(per_expert, axis=1)
        if layer.feature_gate_rank:
            h = ref_feature_gate(layer.feature_gates[j], h)
        experts = ref_experts(layer.levels[j], h)
        new = []
        for k in range(t):
            parts = experts[:, hierarchy(layer.num_experts, groups, t, k)]
            if layer.self_gate and j > 0:
                parts = np.concatenate([parts, ys[k][:, None]], axis=1)
            gate = layer.gates[j][k]
            w = softmax(ys[k] @ _np(gate.kernel) + _np(gate.bias))
            new.append(np.einsum("be,beh->bh", w, parts))
            gates.append(w)
        ys = new
    return ys, gates


CASES = [
    dict(num_outputs=3, expert_units=[4], task_groups=[[0, 1], [2]], num_experts=[1, 2, 1]),
    dict(num_outputs=2, expert_units=[6, 4], num_levels=2, feature_gate_rank=2),
    dict(num_outputs=3, expert_units=[4], task_groups=[[2], [0, 1]], num_levels=2, self_gate=False,
         feature_gate_rank=0, num_experts=[0, 1, 2]),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("on_views", [False, True])
def test_matches_numpy_reference(case, on_views):
    layer = HoME(**case)
    t = case["num_outputs"]
    views = [_x(seed=k) for k in range(t)] if on_views else None
    x = _x()
    layer(views if on_views else x)
    _jitter(layer)
    outputs, gates = layer(views if on_views else x, return_gates=True)
    groups = case.get("task_groups") or [list(range(t))]
    want_outputs, want_gates = ref_home(layer, views if on_views else [x] * t, groups)
    assert len(gates) == len(want_gates) == len(layer.gate_names)
    for got, want in zip(outputs + gates, want_outputs + want_gates):
        np.testing.assert_allclose(_np(got), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(expert_units=[4], feature_gate_rank=2),
        dict(expert_units=[4], task_groups=[[1], [0]], num_levels=2, feature_gate_rank=2),
    ],
)
def test_switcher_contract(kwargs, tmp_path):
    check_switcher(lambda: HoME(num_outputs=2, **kwargs), num_outputs=2, tmp_path=tmp_path)


def test_hierarchy_mask_hides_other_groups_and_tasks():
    # Layout: [meta | group {0,1} | group {2} | task 0 | task 1 | task 2]; task 0 sees 0, 1, 3.
    layer = HoME(3, [4], task_groups=[[0, 1], [2]], num_experts=[1, 1, 1], feature_gate_rank=2)
    x = _x()
    layer(x)
    _jitter(layer)
    before, gates = layer(x, return_gates=True)
    assert [tuple(g.shape) for g in gates] == [(B, 3)] * 3  # meta + group + own, no more
    hidden = [2, 4, 5]
    for weights in (layer.levels[0].kernels[0], layer.feature_gates[0].up):
        value = _np(weights).copy()
        value[hidden] += 3.0
        weights.assign(value)
    after = layer(x)
    np.testing.assert_allclose(_np(after[0]), _np(before[0]), atol=1e-6)
    assert not np.allclose(_np(after[1]), _np(before[1]))  # task 1 sees its own expert 4
    assert not np.allclose(_np(after[2]), _np(before[2]))


def test_self_gate_slot_and_gate_names():
    layer = HoME(2, [4], num_levels=2, num_experts=[2, 1, 1])
    _, gates = layer(_x(), return_gates=True)
    assert layer.gate_names == [
        "level_0/task_0",
        "level_0/task_1",
        "level_1/task_0",
        "level_1/task_1",
    ]
    assert [g.shape[-1] for g in gates] == [4, 4, 5, 5]  # level 1: + the self-gate slot
    for g in gates:
        np.testing.assert_allclose(_np(g).sum(-1), 1.0, atol=1e-6)
        assert _np(g).min() >= 0.0


def test_normalised_experts_share_one_scale_and_one_row_matches_a_batch():
    experts = NormalizedExperts(num_experts=2, units=[16])
    x = _x(rows=64)
    experts(x)
    kernel = _np(experts.kernels[0]).copy()
    kernel[0] *= 20.0  # expert 0's raw outputs are 100 times expert 1's
    kernel[1] *= 0.2
    experts.kernels[0].assign(kernel)
    h = _np(experts(x))
    scale = h.std(axis=(0, 2))
    assert 0.5 < scale[0] / scale[1] < 2.0, scale
    row = np.concatenate([_np(experts(x[i : i + 1])) for i in range(4)])
    np.testing.assert_allclose(row, h[:4], atol=1e-6)  # no batch statistics


def test_feature_gate_starts_as_identity_and_keeps_a_view_per_expert():
    gate = FeatureGate(num_experts=3, rank=2)
    x = _x()
    np.testing.assert_allclose(_np(gate(x)), np.repeat(x[:, None], 3, axis=1), atol=1e-6)
    _jitter(gate)
    views = _np(gate(x))
    assert views.shape == (B, 3, D) and not np.allclose(views[:, 0], views[:, 1])
    assert np.all(np.abs(views) <= 2.0 * np.abs(x[:, None]) + 1e-6)  # 2 sigmoid in (0, 2)


@pytest.mark.parametrize(
    "groups, match",
    [
        ([[0, 1]], r"leaves out tasks \[2\]; put every task in one group"),
        ([[0, 1], [1, 2]], "puts task 1 in two groups"),
        ([[0, 1], [3, 2]], r"names task 3, but tasks run 0\.\.2"),
        ([[0, 1], []], "must be a list of non-empty lists"),
        ([0, 1, 2], "must be a list of non-empty lists"),
    ],
)
def test_bad_task_groups_raise_one_line(groups, match):
    with pytest.raises(ValueError, match=match) as error:
        HoME(3, [4], task_groups=groups)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: HoME(2, [4], num_experts=[1, 1]), r"three ints >= 0.*num_experts=\[1, 1\]"),
        (lambda: HoME(2, [4], num_experts=[0, 0, 0]), "at least one expert"),
        (lambda: HoME(2, [4], num_experts=[2, -1, 1]), "three ints >= 0"),
        (lambda: HoME(2, [4], num_levels=0), "num_levels >= 1"),
        (lambda: HoME(2, [4], feature_gate_rank=-1), "feature_gate_rank >= 0"),
        (lambda: HoME(2, [[8], [4]], num_levels=2), r"widths are \[8, 4\].*self_gate=False"),
        (lambda: NormalizedExperts(2, [4, 1]), r"ints >= 2.*units=\[4, 1\]"),
        (lambda: FeatureGate(2, rank=0), "rank >= 1"),
    ],
)
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_unequal_widths_without_self_gate_build():
    layer = HoME(2, [[8], [4]], num_levels=2, self_gate=False)
    assert [tuple(y.shape) for y in layer(_x())] == [(B, 4), (B, 4)]


def test_keras_file_round_trip(tmp_path):
    inputs = keras.Input(shape=(D,), name="x")
    layer = HoME(3, [4], task_groups=[[0, 2], [1]], num_experts=[1, 1, 2], num_levels=2)
    outputs, gates = layer(inputs, return_gates=True)
    model = keras.Model(inputs, {"a": outputs[0], "c": outputs[2], "gate": gates[-1]})
    _jitter(layer)
    model.save(tmp_path / "home.keras")
    restored = keras.saving.load_model(tmp_path / "home.keras")
    x = _x()
    want, got = model.predict(x, verbose=0), restored.predict(x, verbose=0)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=1e-6)
    config = restored.get_layer(layer.name).get_config()
    assert config["task_groups"] == [[0, 2], [1]] and config["num_experts"] == [1, 1, 2]


# -- in a model: flat, trained, exported, through the registry -------------------------------
@pytest.fixture(scope="module")
def funnel():
    from tfmtl.data import load_funnel

    return load_funnel(rows=600, seed=0, embedding_dim=4)


def _flat(data):
    from tfmtl.models import build_flat

    keras.utils.set_random_seed(0)
    layer = HoME(3, [8], task_groups=[[0, 2], [1]], feature_gate_rank=2, name="home")
    return build_flat(data.spec, data.tasks, layer)


def test_flat_model_trains_and_reports_gates(funnel):
    from tfmtl.metrics import expert_utilisation
    from tfmtl.models import gate_model
    from tfmtl.training import compile_multitask, fit

    model = _flat(funnel)
    compile_multitask(model, learning_rate=1e-2, jit_compile=False)
    history = fit(model, funnel, epochs=2, batch_size=128, verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0], losses
    gates = gate_model(model).predict(funnel["test"].features, verbose=0)
    assert sorted(gates) == ["home/task_0", "home/task_1", "home/task_2"]
    usage = expert_utilisation(gates)
    assert all(len(u["mean"]) == 3 and abs(sum(u["mean"]) - 1) < 1e-5 for u in usage.values())


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="SavedModel export is TF")
def test_flat_model_serves_its_predictions(funnel, tmp_path):
    import tensorflow as tf

    from tfmtl.export import export_saved_model

    model = _flat(funnel)
    for w in model.weights:  # away from the identity feature-gate and unit norm scales
        w.assign(w + np.random.default_rng(1).normal(scale=0.1, size=w.shape).astype(w.dtype))
    path = export_saved_model(model, tmp_path, "home")
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    spec, columns = model.feature_spec, funnel["test"].features
    out = serve(
        **{k: tf.constant(np.asarray(v), dtype=spec.input_dtype(k)) for k, v in columns.items()}
    )
    want = model.predict(columns, verbose=0)
    for task in funnel.tasks:
        got = out[task.name].numpy().reshape(-1)
        np.testing.assert_allclose(got, np.asarray(want[task.name]).reshape(-1), atol=1e-5)


def test_registry_builds_home(funnel):
    from tfmtl.models import registry

    config = {"family": "home", "expert_units": [8], "task_groups": [[0], [1, 2]]}
    resolved = registry.resolve(config)
    assert resolved["num_experts"] == [1, 1, 1] and resolved["feature_gate_rank"] == 8
    model = registry.build(config, funnel.spec, funnel.tasks)
    layer = next(x for x in model.layers if isinstance(x, HoME))
    assert layer.task_groups == [[0], [1, 2]] and layer.expert_units == [[8]]
    with pytest.raises(ValueError, match="home has no hyper-parameter 'num_shared_experts'"):
        registry.resolve({"family": "home", "num_shared_experts": 2})
