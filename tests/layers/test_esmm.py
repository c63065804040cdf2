"""ESMM's entire-space product: pCTCVR = pCTR × pCVR."""

import numpy as np
import pytest

from tfmtl.layers import EntireSpaceProduct


def test_product_of_two_and_three_steps():
    a, b, c = (np.random.default_rng(i).random(6).astype("float32") for i in range(3))
    np.testing.assert_allclose(np.asarray(EntireSpaceProduct()([a, b])), a * b, atol=1e-7)
    np.testing.assert_allclose(np.asarray(EntireSpaceProduct()([a, b, c])), a * b * c, atol=1e-7)


def test_product_never_exceeds_either_factor():
    a, b = np.random.default_rng(4).random((2, 100)).astype("float32")
    p = np.asarray(EntireSpaceProduct()([a, b]))
    assert (p <= a + 1e-7).all() and (p <= b + 1e-7).all()


def test_needs_a_list():
    with pytest.raises(ValueError, match="list of >= 2 probabilities"):
        EntireSpaceProduct()(np.ones((3,), "float32"))
