"""TensorProto <-> numpy, fast for the dtypes models read (float32, int64, string).

`tf.make_tensor_proto` / `tf.make_ndarray` cost tens of microseconds per tensor in Python; a
500-candidate ranking request has dozens of them each way, so the dtypes models read take a
direct path (`tensor_content` bytes or the typed value fields). A tensor's content must hold
exactly the values its shape claims (TF's "one value fills the batch" shorthand is refused:
it lets a few bytes claim thousands of rows).

Example:

>>> proto = to_tensor_proto(np.array([1.0, 2.0], np.float32))
>>> to_ndarray(proto, "x")
array([1., 2.], dtype=float32)
"""

from __future__ import annotations

import math

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from tfmtl.serving.errors import ServingError, shown

_NUMERIC = {
    types_pb2.DT_FLOAT: (np.float32, "float_val"),
    types_pb2.DT_DOUBLE: (np.float64, "double_val"),
    types_pb2.DT_INT64: (np.int64, "int64_val"),
    types_pb2.DT_INT32: (np.int32, "int_val"),
}
_BY_NUMPY = {
    np.dtype(np.float32): types_pb2.DT_FLOAT,
    np.dtype(np.float64): types_pb2.DT_DOUBLE,
    np.dtype(np.int64): types_pb2.DT_INT64,
    np.dtype(np.int32): types_pb2.DT_INT32,
}


def dtype_name(enum_value: int) -> str:
    """`types_pb2.DT_FLOAT` -> "float32" (TF's own names)."""
    import tensorflow as tf

    try:
        return tf.dtypes.as_dtype(enum_value).name
    except TypeError:
        return f"DataType({enum_value})"


def shape_of(proto: tensor_pb2.TensorProto) -> tuple:
    if proto.tensor_shape.unknown_rank:
        return None
    return tuple(int(d.size) for d in proto.tensor_shape.dim)


def to_ndarray(proto: tensor_pb2.TensorProto, name: str) -> np.ndarray:
    """Decode `proto`; a malformed tensor is an INVALID_ARGUMENT naming input `name`."""
    shape = shape_of(proto)
    if shape is None:
        raise ServingError.invalid(
            f"Input {shown(name)} has an unknown rank; give its tensor_shape."
        )
    if any(d < 0 for d in shape):
        raise ServingError.invalid(
            f"Input {shown(name)} has a negative dimension in its shape {list(shape)}."
        )
    size = math.prod(shape)  # Python ints: a claimed [2**32, 2**32] must not wrap to 0 values
    if proto.dtype in _NUMERIC:
        np_dtype, field = _NUMERIC[proto.dtype]
        if proto.tensor_content:
            itemsize = np.dtype(np_dtype).itemsize
            if len(proto.tensor_content) != size * itemsize:
                raise ServingError.invalid(
                    f"Input {shown(name)} has {len(proto.tensor_content)} bytes of tensor_content "
                    "but its "
                    f"tensor_shape {list(shape)} of {dtype_name(proto.dtype)} needs "
                    f"{size * itemsize}."
                )
            flat = np.frombuffer(proto.tensor_content, dtype=np_dtype)
        else:
            _check_count(len(getattr(proto, field)), shape, size, name)
            flat = np.asarray(getattr(proto, field), dtype=np_dtype)
        return flat.reshape(shape)
    if proto.dtype == types_pb2.DT_STRING:
        _check_count(len(proto.string_val), shape, size, name)
        flat = np.empty(size, dtype=object)
        flat[:] = list(proto.string_val)
        return flat.reshape(shape)
    raise ServingError.invalid(
        f"Input {shown(name)} is a {dtype_name(proto.dtype)} tensor; this server reads float32, "
        "float64, int32, "
        "int64 and string tensors."
    )


def _check_count(count: int, shape: tuple, size: int, name: str) -> None:
    """Content must match the claimed shape: no single value standing for a whole batch, so a
    small request cannot claim rows it does not carry."""
    if count != size:
        raise ServingError.invalid(
            f"Input {shown(name)} holds {count} value(s) but its tensor_shape {list(shape)} needs "
            f"{size}."
        )


def to_tensor_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
    """numpy -> TensorProto (float32/float64/int32/int64 as bytes; str/bytes as string_val)."""
    array = np.asarray(array)
    proto = tensor_pb2.TensorProto(
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=int(d)) for d in array.shape]
        )
    )
    if array.dtype in _BY_NUMPY:
        proto.dtype = _BY_NUMPY[array.dtype]
        proto.tensor_content = np.ascontiguousarray(array).tobytes()
    elif array.dtype.kind in "OUS":
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend(
            v if isinstance(v, bytes) else str(v).encode("utf-8") for v in array.reshape(-1)
        )
    else:
        import tensorflow as tf

        return tf.make_tensor_proto(array)
    return proto
