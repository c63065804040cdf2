"""Cross-Stitch against numpy: per-task columns, then x̃_t = sum_s α_ts h_s after every layer."""

import numpy as np
import pytest

from tests.layers import reference as ref
from tfmtl.layers import CrossStitch

RNG = np.random.default_rng(1)
X = RNG.normal(size=(4, 5)).astype("float32")


def reference_cross_stitch(layer, h):
    """h: [B, T, D] per-column inputs."""
    for bank, alpha in zip(layer.columns, layer.alphas):
        cols = ref.expert_bank(bank, h)  # column t: relu(h_t W_t + b_t)
        h = np.einsum("ts,bsu->btu", np.asarray(alpha), cols)  # Misra eq 1
    return [h[:, t] for t in range(layer.num_outputs)]


@pytest.mark.parametrize("views", [False, True])
def test_stitching_matches_numpy(views):
    layer = CrossStitch(num_outputs=3, units=[4, 3])
    inputs = [RNG.normal(size=(4, 5)).astype("float32") for _ in range(3)] if views else X
    layer(inputs)
    for a in layer.alphas:  # non-trivial α
        a.assign(RNG.normal(size=(3, 3)).astype("float32"))
    got = layer(inputs)
    h = np.stack(inputs, axis=1) if views else np.repeat(X[:, None], 3, axis=1)
    for g, w in zip(got, reference_cross_stitch(layer, h)):
        np.testing.assert_allclose(np.asarray(g), w, atol=1e-5)


def test_alpha_starts_near_identity_with_rows_summing_to_one():
    layer = CrossStitch(num_outputs=3, units=[4], self_weight=0.8)
    layer(X)
    alpha = np.asarray(layer.alphas[0])
    np.testing.assert_allclose(np.diag(alpha), 0.8)
    np.testing.assert_allclose(alpha.sum(axis=1), 1.0, atol=1e-6)


def test_identity_alpha_means_no_sharing():
    layer = CrossStitch(num_outputs=2, units=[4], self_weight=1.0)
    before = [np.asarray(o) for o in layer(X)]
    kernel = np.asarray(layer.columns[0].kernels[0]).copy()
    kernel[1] += 3.0  # perturb task 1's column only
    layer.columns[0].kernels[0].assign(kernel)
    after = [np.asarray(o) for o in layer(X)]
    np.testing.assert_allclose(after[0], before[0], atol=1e-6)
    assert not np.allclose(after[1], before[1])


@pytest.mark.parametrize(
    "kwargs, culprit",
    [(dict(units=[]), "units"), (dict(units=[4], self_weight=1.5), "self_weight")],
)
def test_errors_name_the_culprit(kwargs, culprit):
    with pytest.raises(ValueError, match=culprit):
        CrossStitch(num_outputs=2, **kwargs)
