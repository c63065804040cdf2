"""One Predict batch from a RankRequest: context features broadcast, candidates stacked.

Request-level (user / context) features are given once and broadcast to every candidate;
candidate features come per candidate (`candidates`, a map each) or as columns
(`candidate_columns`, one packed list per feature: the fast path). Every model input must be
given exactly once (in the context or for every candidate) and match the input's dtype and
shape; a refusal names the feature and, for candidate features, the candidate.

A context feature is repeated for every candidate in the Predict request: the embedded
PredictionService refuses a tensor whose content is shorter than its shape (TensorFlow's
last-value fill lets a few bytes claim any number of rows).

Example:

>>> import tempfile
>>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0")])
>>> tasks = [tfmtl.Task("click"), tfmtl.Task("finish")]
>>> model = tfmtl.models.build_model("mmoe", spec, tasks, num_experts=2, expert_units=[4])
>>> version_dir = tfmtl.export.export_saved_model(model, tempfile.mkdtemp(), "ple")
>>> server = tfmtl.serving.serve(version_dir.parent, "ple", port=0)
>>> stub = tfmtl.serving.backends.PredictionBackends(server.address)
>>> info = tfmtl.serving.model_info.ModelInfoCache(stub).get("ple", None)
>>> request = tfmtl.serving.rank_request("ple", {}, {"a": {"x0": 1.0}, "b": {"x0": 2.0}})
>>> batch = build_batch(info, request)
>>> sorted(batch.inputs) == sorted(info.inputs), batch.ids
(True, ['a', 'b'])
>>> stub.close(); server.stop()
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfmtl.serving.errors import ServingError, shown
from tfmtl.serving.tensors import to_tensor_proto

_ACCEPTS = {  # numpy kind of the input -> FeatureValue kinds it takes (scalar, list)
    "f": ({"float_value", "int64_value"}, {"float_list", "int64_list"}),
    "i": ({"int64_value"}, {"int64_list"}),
    "O": ({"string_value"}, {"string_list"}),
}


@dataclasses.dataclass
class Batch:
    """`inputs`: name -> TensorProto for Predict; `raw`: name -> `[N]` values of the extra
    features; `ids`: the candidates' ids in request order."""

    inputs: dict
    raw: dict
    ids: list


def build_batch(info, request, extra=()) -> Batch:
    """The Predict inputs of `request` for model version `info` (its signature's inputs).

    Args:
        info: `ModelInfo` of the model version to call.
        request: a RankRequest.
        extra: names of non-input features to read too (the fusion's length feature).
    """
    has_rows, has_columns = len(request.candidates) > 0, len(request.candidate_columns.ids) > 0
    if has_rows and has_columns:
        raise ServingError.invalid(
            "Give the candidates in candidates or in candidate_columns, not both."
        )
    source = _Columns(request.candidate_columns) if has_columns else _Rows(request.candidates)
    context = request.context_features
    known = set(info.inputs) | set(extra)
    for name in context:
        if name not in known:
            raise ServingError.invalid(
                f"context_features[{shown(name)}] is not an input of model '{info.name}' version "
                f"{info.version}. "
                f"Inputs: {sorted(info.inputs)}."
            )
    for name in source.names:
        if name not in known:
            raise ServingError.invalid(
                f"{source.label(name)} is not an input of model '{info.name}' version "
                f"{info.version}. "
                f"Inputs: {sorted(info.inputs)}."
            )
        if name in context:
            raise ServingError.invalid(
                f"Feature {shown(name)} is given both in context_features and for the candidates; "
                "give it once."
            )
    n = len(source.ids)
    inputs, raw = {}, {}
    wanted = [(k, *info.inputs[k]) for k in sorted(info.inputs)]
    wanted += [(k, np.dtype(np.float32), ()) for k in extra if k not in info.inputs]
    for name, dtype, shape in wanted:
        if name in context:
            value = _value(context[name], f"context_features['{name}']", dtype, shape)
            if name in info.inputs:
                inputs[name] = to_tensor_proto(np.broadcast_to(value, (n, *shape)))
            if name in extra:
                raw[name] = np.broadcast_to(value, (n, *shape))
        elif name in source.names:
            values = source.column(name, dtype, shape)
            if name in info.inputs:
                inputs[name] = to_tensor_proto(values)
            if name in extra:
                raw[name] = values
        elif name in info.inputs:
            raise ServingError.invalid(
                f"Feature '{name}' (an input of model '{info.name}' version {info.version}) is "
                "missing: give it in "
                "context_features or for every candidate."
            )
    return Batch(inputs, raw, source.ids)


class _Rows:
    """`candidates`: one map of FeatureValue per candidate."""

    def __init__(self, candidates):
        self.maps = [c.features for c in candidates]
        self.ids = [c.id or str(i) for i, c in enumerate(candidates)]
        first = self.maps[0] if self.maps else {}
        self.names = set(first)
        for i, m in enumerate(self.maps):
            if len(m) != len(first):
                odd = ", ".join(shown(k) for k in sorted(set(m) ^ self.names)[:5])
                raise ServingError.invalid(
                    f"candidates[{i}] ({shown(self.ids[i])}) and candidates[0] differ on "
                    f"feature(s) [{odd}]: "
                    "every candidate needs the same features."
                )

    def label(self, name: str, i: int = 0) -> str:
        return f"candidates[{i}] ({shown(self.ids[i])}) feature {shown(name)}"

    def column(self, name: str, dtype, shape) -> np.ndarray:
        values = [m[name] for m in self.maps]  # present in all: checked in __init__
        kinds = [v.WhichOneof("kind") for v in values]
        scalar_ok, list_ok = _ACCEPTS[dtype.kind]
        ok = list_ok if shape else scalar_ok
        bad = next((i for i, k in enumerate(kinds) if k not in ok), None)
        if bad is not None:
            raise _wrong_kind(self.label(name, bad), kinds[bad], dtype, shape)
        if shape:
            return np.stack(
                [_value(v, self.label(name, i), dtype, shape) for i, v in enumerate(values)]
            )
        if dtype.kind == "O":
            out = np.empty(len(values), dtype=object)
            out[:] = [v.string_value for v in values]
            return out
        if kinds.count("float_value") == len(kinds):
            return np.array([v.float_value for v in values], dtype=dtype)
        return np.array([getattr(v, k) for v, k in zip(values, kinds)], dtype=dtype)


class _Columns:
    """`candidate_columns`: one packed list per feature."""

    def __init__(self, columns):
        self.columns = columns.features
        self.ids = [c or str(i) for i, c in enumerate(columns.ids)]
        self.names = set(self.columns)

    def label(self, name: str) -> str:
        return f"candidate_columns.features[{shown(name)}]"

    def column(self, name: str, dtype, shape) -> np.ndarray:
        col = self.columns[name]
        kind = col.WhichOneof("kind")
        if kind not in _ACCEPTS[dtype.kind][1]:
            raise _wrong_kind(self.label(name), kind, dtype, shape, column=True)
        items = getattr(col, kind).value
        size = len(self.ids) * int(np.prod(shape, dtype=np.int64))
        if len(items) != size:
            per = f" ({shape[0]} per candidate)" if shape else ""
            raise ServingError.invalid(
                f"{self.label(name)} has {len(items)} values but there are {len(self.ids)} "
                "candidate ids: "
                f"it needs {size}{per}."
            )
        if dtype.kind == "O":
            out = np.empty(size, dtype=object)
            out[:] = list(items)
        else:
            out = np.array(items, dtype=dtype)
        return out.reshape((len(self.ids), *shape))


def _value(value, label: str, dtype, shape) -> np.ndarray:
    """One feature value as a numpy array of `shape` and `dtype`."""
    kind = value.WhichOneof("kind")
    scalar_ok, list_ok = _ACCEPTS[dtype.kind]
    if kind not in (list_ok if shape else scalar_ok):
        raise _wrong_kind(label, kind, dtype, shape)
    if not shape:
        return np.asarray(getattr(value, kind), dtype=dtype)
    items = list(getattr(value, kind).value)
    if len(items) != shape[0]:
        raise ServingError.invalid(
            f"{label} has {len(items)} values but the model expects {shape[0]} (pad sequences to "
            "max_len)."
        )
    if dtype.kind == "O":
        out = np.empty(len(items), dtype=object)
        out[:] = items
        return out
    return np.asarray(items, dtype=dtype)


def _wrong_kind(label: str, kind, dtype, shape, column: bool = False) -> ServingError:
    scalar_ok, list_ok = _ACCEPTS[dtype.kind]
    want = sorted(list_ok if (shape or column) else scalar_ok)
    sequence = f"a sequence of {shape[0]} " if shape else ""
    what = sequence + ("string" if dtype.kind == "O" else dtype.name)
    return ServingError.invalid(
        f"{label} is {kind or 'no value'}, but the model reads {what}: give one of {want}."
    )
