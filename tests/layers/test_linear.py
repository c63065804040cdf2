"""dense / batch_matmul: numpy's products, without a broadcasting batched matmul."""

import numpy as np
import pytest

from tfmtl.layers.linear import batch_matmul, dense, repeat_to

RNG = np.random.default_rng(0)


def test_shared_kernel_is_numpy_matmul():
    x, k = (
        RNG.normal(size=(5, 3, 7, 8)).astype("float32"),
        RNG.normal(size=(8, 4)).astype("float32"),
    )
    np.testing.assert_allclose(np.asarray(dense(x, k)), x @ k, rtol=1e-5, atol=1e-5)


def test_per_task_kernels_repeat_a_shared_task_axis():
    x, k = (
        RNG.normal(size=(5, 1, 7, 8)).astype("float32"),
        RNG.normal(size=(3, 8, 4)).astype("float32"),
    )
    want = np.stack([x[:, 0] @ k[t] for t in range(3)], axis=1)
    got = np.asarray(dense(x, k))
    assert got.shape == (5, 3, 7, 4)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_batch_matmul_broadcasts_the_task_axis_like_numpy():
    a, b = (
        RNG.normal(size=(4, 1, 2, 1, 6)).astype("float32"),
        RNG.normal(size=(4, 3, 2, 6, 5)).astype("float32"),
    )
    np.testing.assert_allclose(np.asarray(batch_matmul(a, b)), a @ b, rtol=1e-5, atol=1e-5)


def test_repeat_to_refuses_a_non_unit_axis():
    with pytest.raises(ValueError, match=r"axis 1 of shape \(2, 3\) to size 4"):
        repeat_to(np.ones((2, 3), "float32"), 4, axis=1)
