"""tf.Example encoding of raw features: the `serving_examples` signature and its inverse.

One Example feature per raw feature, named after it: `float_list` for dense features,
`bytes_list` for string features, `int64_list` for integer ones; sequence features hold
exactly `max_len` values. Every feature is required, except dense features declared
`missing="mean"`, which may be left out (read as NaN, then replaced by the mean in the model).

Example:

>>> serialized = serialize_examples(spec, {"age": np.array([31.0]), "city": np.array(["paris"], object)})
>>> tf.io.parse_example(serialized, parsing_spec(spec))["city"]
<tf.Tensor: shape=(1,), dtype=string, numpy=array([b'paris'], dtype=object)>
"""

from __future__ import annotations

import numpy as np

from tfmtl.export.layout import ExportError


def parsing_spec(spec) -> dict:
    """`tf.io.parse_example` features for a `FeatureSpec`: raw dtype and shape per feature."""
    import tensorflow as tf

    out = {}
    for f in spec:
        dtype = tf.float32 if f.kind == "dense" else tf.as_dtype(f.dtype)
        shape = [int(f.max_len)] if f.kind == "sequence" else []
        default = float("nan") if f.kind == "dense" and f.missing == "mean" else None
        out[f.name] = tf.io.FixedLenFeature(shape, dtype, default_value=default)
    return out


def signature_specs(spec) -> dict:
    """One `tf.TensorSpec` per raw feature: name = feature name, batch dimension `None`."""
    import tensorflow as tf

    return {
        f.name: tf.TensorSpec(
            (None, *spec.input_shape(f.name)), tf.float32 if f.kind == "dense" else tf.as_dtype(f.dtype), name=f.name
        )
        for f in spec
    }


def serialize_examples(spec, columns: dict) -> list[bytes]:
    """Serialized `tf.train.Example`s, one per row of `columns` (feature name -> array)."""
    import tensorflow as tf

    columns = as_columns(spec, columns)
    rows = len(next(iter(columns.values())))
    examples = []
    for i in range(rows):
        feature = {}
        for f in spec:
            values = np.asarray(columns[f.name][i]).reshape(-1)
            if f.kind == "dense":
                feature[f.name] = tf.train.Feature(float_list=tf.train.FloatList(value=values.astype(np.float32)))
            elif f.dtype == "string":
                feature[f.name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[_bytes(v) for v in values]))
            else:
                feature[f.name] = tf.train.Feature(int64_list=tf.train.Int64List(value=values.astype(np.int64)))
        examples.append(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return examples


def as_columns(spec, columns: dict) -> dict:
    """Check `columns` covers `spec` with equal row counts and the right shapes; cast to the raw dtypes."""
    missing = [n for n in spec.names if n not in columns]
    if missing:
        raise ExportError(f"Feature(s) {missing} missing from the rows. Present: {sorted(columns)}")
    out, rows = {}, None
    for f in spec:
        values = np.asarray(columns[f.name])
        if f.kind == "dense":
            values = values.astype(np.float32)
        elif f.dtype == "string":
            values = np.vectorize(_text, otypes=[object])(values) if values.size else values.astype(object)
        else:
            values = values.astype(np.int64)
        inner = tuple(spec.input_shape(f.name))
        if values.ndim != 1 + len(inner) or values.shape[1:] != inner:
            raise ExportError(f"Feature '{f.name}' has shape {values.shape}; expected {('rows', *inner)}.")
        if rows is not None and values.shape[0] != rows:
            raise ExportError(f"Feature '{f.name}' has {values.shape[0]} rows; the other features have {rows}.")
        rows = values.shape[0]
        out[f.name] = values
    return out


def _text(v) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _bytes(v) -> bytes:
    return v if isinstance(v, bytes) else str(v).encode("utf-8")
