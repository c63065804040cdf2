"""tf.Example encoding of raw features: the `serving_examples` signature and its inverse.

One Example feature per raw feature, named after it: `float_list` for dense features,
`bytes_list` for string features, `int64_list` for integer ones; sequence features hold
exactly `max_len` values. Every feature is required, except dense features declared
`missing="mean"`, which may be left out (read as NaN, then replaced by the mean in the model).

Example:

>>> import tensorflow as tf
>>> spec = tfmtl.FeatureSpec(
...     [tfmtl.DenseFeature("age"), tfmtl.CategoricalFeature("city", vocabulary=("paris",))])
>>> columns = {"age": np.array([31.0]), "city": np.array(["paris"], object)}
>>> serialized = serialize_examples(spec, columns)
>>> tf.io.parse_example(serialized, parsing_spec(spec))["city"]
<tf.Tensor: shape=(1,), dtype=string, numpy=array([b'paris'], dtype=object)>

`example_request` goes the other way for a served model: from an export's tfmtl.json it
builds a ranking request body (`tfmtl rank --request` JSON) every feature of which is valid.

>>> import tempfile
>>> tasks = [tfmtl.Task("click"), tfmtl.Task("finish")]
>>> model = tfmtl.models.build_model("mmoe", spec, tasks, num_experts=2, expert_units=[4])
>>> version_dir = tfmtl.export.export_saved_model(model, tempfile.mkdtemp(), "ranker")
>>> body = example_request(version_dir, candidates=3, context=["age"])
>>> sorted(body["candidates"]), sorted(body["context"])
(['c0', 'c1', 'c2'], ['age'])
"""

from __future__ import annotations

import numpy as np

from tfmtl import contract
from tfmtl.export.layout import ExportError, resolve_version_dir


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
            (None, *spec.input_shape(f.name)),
            tf.float32 if f.kind == "dense" else tf.as_dtype(f.dtype),
            name=f.name,
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
                feature[f.name] = tf.train.Feature(
                    float_list=tf.train.FloatList(value=values.astype(np.float32))
                )
            elif f.dtype == "string":
                feature[f.name] = tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[_bytes(v) for v in values])
                )
            else:
                feature[f.name] = tf.train.Feature(
                    int64_list=tf.train.Int64List(value=values.astype(np.int64))
                )
        examples.append(
            tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
        )
    return examples


def as_columns(spec, columns: dict) -> dict:
    """Check `columns` covers `spec` with equal row counts and the right shapes; cast to the raw
    dtypes.
    """
    missing = [n for n in spec.names if n not in columns]
    if missing:
        raise ExportError(f"Feature(s) {missing} missing from the rows. Present: {sorted(columns)}")
    out, rows = {}, None
    for f in spec:
        values = np.asarray(columns[f.name])
        if f.kind == "dense":
            values = values.astype(np.float32)
        elif f.dtype == "string":
            values = (
                np.vectorize(_text, otypes=[object])(values)
                if values.size
                else values.astype(object)
            )
        else:
            values = values.astype(np.int64)
        inner = tuple(spec.input_shape(f.name))
        if values.ndim != 1 + len(inner) or values.shape[1:] != inner:
            raise ExportError(
                f"Feature '{f.name}' has shape {values.shape}; expected {('rows', *inner)}."
            )
        if rows is not None and values.shape[0] != rows:
            raise ExportError(
                f"Feature '{f.name}' has {values.shape[0]} rows; the other features have {rows}."
            )
        rows = values.shape[0]
        out[f.name] = values
    return out


def _text(v) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _bytes(v) -> bytes:
    return v if isinstance(v, bytes) else str(v).encode("utf-8")


def example_request(
    export,
    candidates: int = 5,
    rows: dict | None = None,
    context=(),
    facet_group: str | None = None,
) -> dict:
    """A ranking request body valid for `export`: `{"context": {...}, "candidates": {id: {...}}}`.

    Every feature of the export's tfmtl.json gets a value: from `rows` where it has the
    feature, else from its `sample_values` (dense: around the training mean; categorical:
    the commonest vocabulary entries; sequences: those padded to `max_len`); exports without
    them (older, or hashed features) get placeholders the model reads as unseen values.

    Args:
        export: BASE/NAME (its latest version), BASE/NAME/VERSION, or a tfmtl.json document.
        candidates: int. Candidates in the request, ids `c0`, `c1`, ... Defaults to `5`.
        rows: dict or None. Feature name -> array of real raw values; candidate i takes
            row `i % len`, the context row 0.
        context: feature names sent once in `context` rather than per candidate.
        facet_group: str or None. Routed group; a model that needs one (MFH, H-MTL) gets
            its first group when None.

    Returns:
        A JSON-able dict; it also holds `facet_group` when one is given or needed.
    """
    if int(candidates) < 1:
        raise ExportError(f"candidates must be >= 1. Received: {candidates}.")
    meta = _metadata(export)
    features = {f["name"]: f for f in meta["features"]}
    unknown = [n for n in context if n not in features]
    if unknown:
        raise ExportError(
            f"context names unknown feature(s) {unknown}. Features: {list(features)}."
        )
    rows = {k: np.asarray(v) for k, v in (rows or {}).items() if k in features}
    body = {
        "context": {n: _request_value(features[n], rows.get(n), 0) for n in context},
        "candidates": {
            f"c{i}": {
                n: _request_value(f, rows.get(n), i)
                for n, f in features.items()
                if n not in context
            }
            for i in range(int(candidates))
        },
    }
    groups = contract.facet_groups(meta)
    if (
        facet_group is None
        and groups
        and contract.facet_group_required(meta)
        and not meta.get("default_facet_group")
    ):
        facet_group = next(iter(groups))
    if facet_group:
        contract.group_heads(meta, facet_group)
        body["facet_group"] = facet_group
    return body


def _metadata(export) -> dict:
    """The checked tfmtl.json of `export`: a document, or an export's folder."""
    if isinstance(export, dict):
        return contract.parse_metadata(export, source="the tfmtl.json document")
    return contract.read_metadata(resolve_version_dir(export))


def _request_value(feature: dict, column, i: int):
    """Candidate `i`'s JSON value of `feature`: a real row's, else a sample value (padded list for
    sequences)."""
    kind, dtype = feature["kind"], feature["dtype"]
    if column is not None and len(column):
        value = column[i % len(column)]
        if kind == "sequence":
            return [_plain(v, kind, dtype) for v in np.asarray(value).reshape(-1)]
        return _plain(value, kind, dtype)
    samples = feature.get("sample_values") or [_placeholder(feature, k) for k in range(3)]
    if kind != "sequence":
        return _plain(samples[i % len(samples)], kind, dtype)
    max_len = int(feature["shape"][0])
    filled = max(1, (max_len + 1) // 2)
    padding = feature.get("padding", 0 if dtype == "int64" else "")
    values = [samples[(i + j) % len(samples)] for j in range(filled)] + [padding] * (
        max_len - filled
    )
    return [_plain(v, kind, dtype) for v in values]


def _placeholder(feature: dict, k: int):
    if feature["kind"] == "dense":
        return 0.0
    return k + 1 if feature["dtype"] == "int64" else f"{feature['name']}_{k}"


def _plain(value, kind: str, dtype: str):
    """A Python float (dense), int (int64) or str: what the request JSON holds."""
    value = value.item() if hasattr(value, "item") else value
    if kind == "dense":
        return float(value)
    if dtype == "int64":
        return int(value)
    return _text(value)
