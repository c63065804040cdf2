"""Asymmetric and customized sharing (PLE §3, Fig. 1b/1c) against numpy."""

import numpy as np
import pytest

from tests.layers import reference as ref
from tfmtl.layers import AsymmetricSharing, CustomizedSharing

RNG = np.random.default_rng(3)
X = RNG.normal(size=(4, 5)).astype("float32")


@pytest.mark.parametrize("fusion", ["concat", "sum", "mean"])
def test_asymmetric_fuses_each_tasks_sources(fusion):
    layer = AsymmetricSharing(num_outputs=3, units=[4], sources=[[], [0], [0, 1]], fusion=fusion)
    got = [np.asarray(o) for o in layer(X)]
    h = ref.expert_bank(layer.bottoms, X)
    for t, row in enumerate([[], [0], [0, 1]]):
        parts = [h[:, t]] + [h[:, s] for s in row]
        want = {
            "concat": np.concatenate(parts, -1),
            "sum": sum(parts),
            "mean": sum(parts) / len(parts),
        }[fusion]
        np.testing.assert_allclose(got[t], want, atol=1e-5)


def test_asymmetric_is_one_way():
    layer = AsymmetricSharing(num_outputs=2, units=[4], sources=[[], [0]])
    before = [np.asarray(o) for o in layer(X)]
    kernel = np.asarray(layer.bottoms.kernels[0]).copy()
    kernel[1] += 3.0  # task 1's bottom: task 0 must not see it
    layer.bottoms.kernels[0].assign(kernel)
    after = [np.asarray(o) for o in layer(X)]
    np.testing.assert_allclose(after[0], before[0], atol=1e-6)
    assert not np.allclose(after[1], before[1])


def test_asymmetric_default_is_a_chain():
    assert AsymmetricSharing(num_outputs=3, units=[4]).sources == [[], [0], [0, 1]]


@pytest.mark.parametrize("sources", [[[1], [1]], [[], [5]], [[]]])
def test_asymmetric_bad_sources_named(sources):
    with pytest.raises(ValueError, match="sources"):
        AsymmetricSharing(num_outputs=2, units=[4], sources=sources)


def test_customized_concatenates_shared_and_task_bottoms():
    layer = CustomizedSharing(num_outputs=2, shared_units=[3], task_units=[4])
    got = [np.asarray(o) for o in layer(X)]
    dense = layer.shared.dense_layers[0]
    s = ref.relu(X @ np.asarray(dense.kernel) + np.asarray(dense.bias))
    h = ref.expert_bank(layer.bottoms, X)
    for t in range(2):
        np.testing.assert_allclose(got[t], np.concatenate([s, h[:, t]], -1), atol=1e-5)


def test_customized_views_feed_their_own_bottoms():
    views = [RNG.normal(size=(4, 5)).astype("float32") for _ in range(3)]  # two tasks + shared view
    layer = CustomizedSharing(num_outputs=2, shared_units=[3], task_units=[4])
    got = [np.asarray(o) for o in layer(views)]
    h = ref.expert_bank(layer.bottoms, np.stack(views[:2], axis=1))
    dense = layer.shared.dense_layers[0]
    s = ref.relu(views[2] @ np.asarray(dense.kernel) + np.asarray(dense.bias))
    for t in range(2):
        np.testing.assert_allclose(got[t], np.concatenate([s, h[:, t]], -1), atol=1e-5)


def test_configs_round_trip():
    a = AsymmetricSharing(num_outputs=3, units=[4], sources=[[2], [], [1]], fusion="mean")
    assert AsymmetricSharing.from_config(a.get_config()).get_config() == a.get_config()
    c = CustomizedSharing(num_outputs=2, shared_units=[8], task_units=[4, 2])
    assert CustomizedSharing.from_config(c.get_config()).get_config() == c.get_config()
