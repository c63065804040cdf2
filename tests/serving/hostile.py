"""Request makers for the hostile-request suite (`test_hostile.py`): a `Case` per refusal."""

from __future__ import annotations

import dataclasses

import grpc
import numpy as np

from tests.serving import wire
from tfmtl.serving.tensors import to_tensor_proto

INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
UNIMPLEMENTED, DEADLINE = grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.DEADLINE_EXCEEDED
HUGE = "q" * 100_000


@dataclasses.dataclass
class Case:
    method: str
    id: str
    make: object  # Requests -> request
    code: grpc.StatusCode
    words: tuple = ()  # each must appear in the message
    timeout: float = 30.0


def cases(method: str, *rows) -> list[Case]:
    return [Case(method, *row) for row in rows]


def then(request, *edits):
    for edit in edits:
        edit(request)
    return request


def predict(*edits, **changes):
    """A good Predict with inputs changed (None drops one), then `edits` applied."""
    return lambda r: then(r.predict(**changes), *edits)


def rank(*edits, **kwargs):
    """A good Rank request built with `rank_request` `kwargs`, then `edits` applied."""
    return lambda r: then(r.rank(**kwargs), *edits)


def columns(**changes):
    """A good Rank request with its candidates as columns, columns changed (None drops one)."""
    return lambda r: r.columns(**changes)


def spec(**fields):
    """Set model_spec fields of a good Predict (`version` goes in its wrapper)."""

    def edit(request):
        for key, value in fields.items():
            if key == "version":
                request.model_spec.version.value = value
            else:
                setattr(request.model_spec, key, value)

    return predict(edit)


def tensor(name, dims=None, **fields):
    """Overwrite input `name`'s shape (`dims`) or other TensorProto fields."""

    def edit(request):
        proto = request.inputs[name]
        if dims is not None:
            del proto.tensor_shape.dim[:]
            proto.tensor_shape.dim.extend(proto.tensor_shape.Dim(size=d) for d in dims)
        for key, value in fields.items():
            if key == "string_val":
                proto.ClearField("tensor_content")
                proto.string_val.extend(value)
            else:
                setattr(proto, key, value)

    return edit


def claim_rows(rows):
    """Every input carries one value but claims `rows` rows (TF's last-value fill attack)."""

    def edit(request):
        for name in list(request.inputs):
            one = np.array([b"s1"], object) if name == "segment" else np.array([0.5], np.float32)
            request.inputs[name].CopyFrom(to_tensor_proto(one))
            request.inputs[name].tensor_shape.dim[0].size = rows

    return edit


def output_filter(*names):
    return predict(lambda q: q.output_filter.extend(names))


def examples(*values, dtype=object, edit=lambda q: None):
    inputs = {"examples": np.array(values, dtype=dtype)}
    return lambda r: then(wire.predict_request(inputs, signature="serving_examples"), edit)


def floats(value, row):
    """Three float32 rows with `value` at `row`."""
    x = np.array([0.25, 0.5, 0.75], np.float32)
    x[row] = value
    return x
