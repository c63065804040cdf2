"""TensorProto decoding: a tensor must hold exactly the values its shape claims."""

from __future__ import annotations

import numpy as np
import pytest

from tfmtl.serving.errors import ServingError
from tfmtl.serving.tensors import to_ndarray, to_tensor_proto


def test_a_shape_whose_size_overflows_int64_is_refused():
    """Pins: np.prod wrapped [2**32, 2**32] to 0 values, so an empty tensor passed the count
    check and the reshape raised (INTERNAL) for any signature taking rank-2 inputs."""
    proto = to_tensor_proto(np.zeros((0, 0), np.float32))
    for dim in proto.tensor_shape.dim:
        dim.size = 2**32
    with pytest.raises(ServingError, match=r"'x1' holds 0 value\(s\) but its tensor_shape \[42949"):
        to_ndarray(proto, "x1")


@pytest.mark.parametrize("dims", [[-1], [2, -3]])
def test_a_negative_dimension_is_refused_by_name(dims):
    proto = to_tensor_proto(np.zeros(1, np.float32))
    del proto.tensor_shape.dim[:]
    proto.tensor_shape.dim.extend(proto.tensor_shape.Dim(size=d) for d in dims)
    with pytest.raises(ServingError, match=r"Input 'x0' has a negative dimension in its shape"):
        to_ndarray(proto, "x0")
