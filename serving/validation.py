"""Predict request validation: every refusal names the input, output or field at fault.

TF Serving answers a bad Predict with INVALID_ARGUMENT (missing, unknown, wrong-dtype or
wrong-shape inputs) or NOT_FOUND (unknown model, version or signature); so do we, before
the model runs, so a bad request never reaches TensorFlow and never takes the server down.

Example:

>>> import tempfile
>>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0")])
>>> tasks = [tfmtl.Task("click"), tfmtl.Task("finish")]
>>> model = tfmtl.models.build_model("mmoe", spec, tasks, num_experts=2, expert_units=[4])
>>> version_dir = tfmtl.export.export_saved_model(model, tempfile.mkdtemp(), "ple")
>>> import tensorflow as tf
>>> signature = tfmtl.serving.servable.Servable.load("ple", 1, version_dir).signature(
...     "serving_default")
>>> arrays = check_inputs(signature, {"x0": tf.make_tensor_proto([0.5])}, max_batch_size=10)
>>> {k: v.shape for k, v in arrays.items()}
{'x0': (1,)}
"""

from __future__ import annotations

import numpy as np

from tfmtl.serving.errors import ServingError, shown
from tfmtl.serving.tensors import dtype_name, shape_of, to_ndarray


def check_inputs(signature, inputs, max_batch_size: int) -> dict:
    """`inputs` (name -> TensorProto) checked against `signature`; returns name -> ndarray.

    Args:
        signature: `tfmtl.serving.servable.Signature` (input specs and where they come from).
        inputs: the request's `inputs` map.
        max_batch_size: int. Most rows one request may carry (oversize requests are refused).
    """
    where = signature.where
    expected = signature.inputs
    unknown = sorted(set(inputs) - set(expected))
    if unknown:
        raise ServingError.invalid(
            f"Input {shown(unknown[0])} is not an input of {where}. Its inputs are: "
            f"{sorted(expected)}."
        )
    missing = sorted(set(expected) - set(inputs))
    if missing:
        raise ServingError.invalid(
            f"Input '{missing[0]}' of {where} is missing from the request (missing: {missing})."
        )
    batch, batch_input, arrays = None, None, {}
    for name in sorted(expected):
        spec, proto = expected[name], inputs[name]
        if proto.dtype != spec.dtype.as_datatype_enum:
            raise ServingError.invalid(
                f"Input '{name}' has dtype {dtype_name(proto.dtype)} but {where} expects "
                f"{spec.dtype.name}."
            )
        shape = shape_of(proto)
        _check_shape(name, shape, spec, where)
        rows = shape[0]
        if rows == 0:
            raise ServingError.invalid(
                f"Input '{name}' has an empty batch (0 rows); send at least one row."
            )
        if rows > max_batch_size:
            raise ServingError.invalid(
                f"Input '{name}' has {rows:,} rows, over this server's limit of {max_batch_size:,} "
                "rows per "
                "request; split the request."
            )
        if batch is None:
            batch, batch_input = rows, name
        elif rows != batch:
            raise ServingError.invalid(
                f"Input '{name}' has {rows} rows but input '{batch_input}' has {batch}: every "
                "input needs the "
                "same batch size."
            )
        arrays[name] = to_ndarray(proto, name)
    return arrays


def _check_shape(name: str, shape, spec, where: str) -> None:
    want = spec.shape
    if shape is None:
        raise ServingError.invalid(
            f"Input '{name}' has an unknown rank; give its tensor_shape ({where}: {_show(want)})."
        )
    if any(d < 0 for d in shape):
        raise ServingError.invalid(
            f"Input '{name}' has a negative dimension in its shape {list(shape)}."
        )
    if want.rank is None:
        return
    if len(shape) != want.rank:
        raise ServingError.invalid(
            f"Input '{name}' has shape {list(shape)} (rank {len(shape)}) but {where} expects rank "
            f"{want.rank}, shape {_show(want)}."
        )
    if want.rank == 0:
        raise ServingError.invalid(
            f"Input '{name}' of {where} is a scalar; it has no batch dimension to serve."
        )
    for axis, (got, need) in enumerate(zip(shape, want.as_list())):
        if need is not None and got != need:
            raise ServingError.invalid(
                f"Input '{name}' has shape {list(shape)} but {where} expects {_show(want)} "
                f"(dimension {axis} must be {need})."
            )


def check_output_filter(signature, output_filter) -> list[str]:
    """The outputs to return: all when the filter is empty; unknown names are refused."""
    if not output_filter:
        return sorted(signature.outputs)
    for name in output_filter:
        if name not in signature.outputs:
            raise ServingError.invalid(
                f"output_filter names {shown(name)}, which is not an output of {signature.where}. "
                f"Its outputs are: {sorted(signature.outputs)}."
            )
    return list(dict.fromkeys(output_filter))


def _show(shape) -> str:
    if shape.rank is None:
        return "[any shape]"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape.as_list()) + "]"


def check_finite_inputs(arrays: dict, where: str) -> None:
    """Refuse NaN and +-Inf in float inputs, naming the input and the first bad row."""
    for name in sorted(arrays):
        array = arrays[name]
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            row = int(np.argwhere(~np.isfinite(array))[0][0])
            value = array.reshape(len(array), -1)[row][
                ~np.isfinite(array.reshape(len(array), -1)[row])
            ][0]
            raise ServingError.invalid(
                f"Input {shown(name)} row {row} is {value}; {where} takes finite numbers only "
                "(this server "
                "refuses NaN and Inf: see --allow_non_finite)."
            )


def check_finite_outputs(result: dict, arrays: dict, where: str) -> None:
    """Refuse rows whose finite inputs still drive a head to NaN or Inf (e.g. 3.4e38 overflowing a
    normaliser: the score would be meaningless), naming the row, the head and its largest input."""
    for head in sorted(result):
        values = np.asarray(result[head])
        if values.dtype.kind != "f" or np.isfinite(values).all():
            continue
        row = int(np.argwhere(~np.isfinite(values))[0][0])
        dense = {k: float(np.max(np.abs(v[row]))) for k, v in arrays.items() if v.dtype.kind == "f"}
        culprit = max(dense, key=dense.get) if dense else None
        blame = (
            f"; its largest float input is {shown(culprit)} = {dense[culprit]:.3g}"
            if culprit
            else ""
        )
        raise ServingError.invalid(
            f"Row {row} drives output {shown(head)} of {where} to "
            f"{values.reshape(len(values), -1)[row][0]}{blame}: "
            "give finite values within the range the model was trained on."
        )
