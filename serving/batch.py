"""One Predict batch from a RankRequest: context features broadcast, candidates stacked.

Request-level (user / context) features are given once and broadcast to every candidate;
candidate features are stacked in request order. Every model input must be given exactly
once (in the context or by every candidate) and match the input's dtype and shape; a
refusal names the feature and, for candidate features, the candidate.

A broadcast context feature travels as ONE value with the batch's shape: TensorFlow fills
a TensorProto's remaining elements with its last value (`Tensor::FromProto`), so TF Serving
and the embedded server both expand it, and the request does not grow with the context.

Example:

>>> protos, raw = build_batch(info, request.context_features, request.candidates, extra=["video_len"])
>>> sorted(protos) == sorted(info.inputs)
True
"""

from __future__ import annotations

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from tfmtl.serving.errors import ServingError
from tfmtl.serving.tensors import to_tensor_proto

_SCALAR = {"float_value", "int64_value", "string_value"}
_ACCEPTS = {  # numpy kind of the input -> FeatureValue kinds it takes (scalar, list)
    "f": ({"float_value", "int64_value"}, {"float_list", "int64_list"}),
    "i": ({"int64_value"}, {"int64_list"}),
    "O": ({"string_value"}, {"string_list"}),
}
_DT = {"f": types_pb2.DT_FLOAT, "i": types_pb2.DT_INT64, "O": types_pb2.DT_STRING}


def build_batch(info, context, candidates, extra=()) -> tuple[dict, dict]:
    """`(name -> TensorProto for Predict, name -> raw [N] values of the `extra` features)`.

    Args:
        info: `ModelInfo` of the model version to call (its signature's inputs).
        context: map of feature name -> FeatureValue (request level, broadcast).
        candidates: list of Candidate.
        extra: names of non-input features to read too (the fusion's length feature).
    """
    n = len(candidates)
    known = set(info.inputs) | set(extra)
    for name in context:
        if name not in known:
            raise ServingError.invalid(
                f"context_features['{name}'] is not an input of model '{info.name}' version {info.version}. "
                f"Inputs: {sorted(info.inputs)}."
            )
    first = candidates[0].features
    for name in first:
        if name not in known:
            raise ServingError.invalid(
                f"candidates[0] ('{_cid(candidates, 0)}') feature '{name}' is not an input of model "
                f"'{info.name}' version {info.version}. Inputs: {sorted(info.inputs)}."
            )
        if name in context:
            raise ServingError.invalid(
                f"Feature '{name}' is given both in context_features and by candidates; give it once."
            )
    for i, c in enumerate(candidates):
        if len(c.features) != len(first):
            odd = sorted(set(c.features) ^ set(first))
            raise ServingError.invalid(
                f"candidates[{i}] ('{_cid(candidates, i)}') and candidates[0] differ on feature(s) {odd}: "
                "every candidate needs the same features."
            )
    protos, raw = {}, {}
    wanted = [(k, *info.inputs[k]) for k in sorted(info.inputs)] + [(k, np.dtype(np.float32), ()) for k in extra
                                                                    if k not in info.inputs]
    for name, dtype, shape in wanted:
        if name in context:
            value = _value(context[name], name, dtype, shape, "context_features")
            if name in info.inputs:
                protos[name] = _splat(value, dtype, (n, *shape))
            if name in extra:
                raw[name] = np.broadcast_to(value, (n, *shape))
        elif name in first:
            values = _stack(candidates, name, dtype, shape)
            if name in info.inputs:
                protos[name] = to_tensor_proto(values)
            if name in extra:
                raw[name] = values
        elif name in info.inputs:
            raise ServingError.invalid(
                f"Feature '{name}' (an input of model '{info.name}' version {info.version}) is missing: give it in "
                "context_features or in every candidate's features."
            )
    return protos, raw


def _stack(candidates, name: str, dtype, shape) -> np.ndarray:
    values = []
    for i, c in enumerate(candidates):
        try:
            values.append(c.features[name])
        except KeyError:
            raise ServingError.invalid(
                f"candidates[{i}] ('{_cid(candidates, i)}') lacks feature '{name}', which candidates[0] gives: "
                "every candidate needs the same features."
            ) from None
    kinds = {v.WhichOneof("kind") for v in values}
    scalar_ok, list_ok = _ACCEPTS[dtype.kind]
    ok = list_ok if shape else scalar_ok
    if not kinds <= ok:
        i = next(i for i, v in enumerate(values) if v.WhichOneof("kind") not in ok)
        raise _wrong_kind(f"candidates[{i}] ('{_cid(candidates, i)}') feature '{name}'", values[i], dtype, shape)
    if not shape:
        if dtype.kind == "O":
            out = np.empty(len(values), dtype=object)
            out[:] = [v.string_value for v in values]
            return out
        if kinds == {"float_value"}:
            return np.fromiter((v.float_value for v in values), dtype=dtype, count=len(values))
        return np.fromiter((getattr(v, v.WhichOneof("kind")) for v in values), dtype=dtype, count=len(values))
    rows = [_value(v, name, dtype, shape, f"candidates[{i}] ('{_cid(candidates, i)}')")
            for i, v in enumerate(values)]
    return np.stack(rows)


def _value(value, name: str, dtype, shape, where: str) -> np.ndarray:
    """One feature value as a numpy array of `shape` and `dtype`."""
    kind = value.WhichOneof("kind")
    scalar_ok, list_ok = _ACCEPTS[dtype.kind]
    label = f"{where} feature '{name}'" if not where.startswith("context") else f"{where}['{name}']"
    if (not shape and kind not in scalar_ok) or (shape and kind not in list_ok):
        raise _wrong_kind(label, value, dtype, shape)
    if not shape:
        v = getattr(value, kind)
        return np.asarray(v, dtype=dtype) if dtype.kind != "O" else np.asarray(v, dtype=object)
    items = list(getattr(value, kind).value)
    if len(items) != shape[0]:
        raise ServingError.invalid(
            f"{label} has {len(items)} values but the model expects {shape[0]} (pad sequences to max_len)."
        )
    if dtype.kind == "O":
        out = np.empty(len(items), dtype=object)
        out[:] = items
        return out
    return np.asarray(items, dtype=dtype)


def _wrong_kind(label: str, value, dtype, shape) -> ServingError:
    scalar_ok, list_ok = _ACCEPTS[dtype.kind]
    want = sorted(list_ok if shape else scalar_ok)
    got = value.WhichOneof("kind") or "no value"
    what = f"{'a sequence of ' + str(shape[0]) + ' ' if shape else ''}{'string' if dtype.kind == 'O' else dtype.name}"
    return ServingError.invalid(f"{label} is {got}, but the model reads {what}: give one of {want}.")


def _splat(value: np.ndarray, dtype, shape: tuple) -> tensor_pb2.TensorProto:
    """A TensorProto of `shape` holding `value` once per row (TF repeats the last element)."""
    proto = tensor_pb2.TensorProto(
        dtype=_DT[dtype.kind],
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape]),
    )
    flat = np.asarray(value).reshape(-1)
    if flat.size > 1:  # a sequence: the last-value fill cannot repeat a whole row
        return to_tensor_proto(np.broadcast_to(value, shape).astype(dtype))
    if dtype.kind == "f":
        proto.float_val.append(float(flat[0]))
    elif dtype.kind == "i":
        proto.int64_val.append(int(flat[0]))
    else:
        v = flat[0]
        proto.string_val.append(v if isinstance(v, bytes) else str(v).encode("utf-8"))
    return proto


def _cid(candidates, i: int) -> str:
    return candidates[i].id or str(i)
