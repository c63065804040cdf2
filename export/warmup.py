"""Warmup requests: `assets.extra/tf_serving_warmup_requests`, replayed by TF Serving on load.

A TFRecord of `tensorflow.serving.PredictionLog(predict_log=PredictLog(request=...))`:
a batch of one and a small batch through `serving_default`, and the small batch again as
serialized Examples through `serving_examples`, so the first live request finds every
signature traced and every lookup table initialised. Rows come from the caller
(`warmup_rows`, feature name -> array) or are made from the feature spec: dense values
around the training mean, vocabulary entries, and one unseen value per categorical feature.

Example:

>>> import tempfile
>>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0")])
>>> logs = warmup_logs(spec, model_name="ranker")
>>> version_dir = tempfile.mkdtemp()
>>> _ = write_warmup(version_dir, logs)
>>> len(read_warmup(version_dir)) == len(logs)
True
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfmtl.export.examples import as_columns, serialize_examples
from tfmtl.export.layout import ExportError
from tfmtl.export.metadata import ASSETS_EXTRA

WARMUP_FILE = "tf_serving_warmup_requests"
DEFAULT_ROWS = 8
UNSEEN = "__tfmtl_warmup_unseen__"


def synthetic_rows(spec, rows: int = DEFAULT_ROWS) -> dict:
    """`rows` raw rows valid for `spec`; the last one carries an unseen value per categorical
    feature.
    """
    if rows < 1:
        raise ExportError(f"warmup_rows={rows} must be >= 1.")
    columns = {}
    for f in spec:
        if f.kind == "dense":
            z = f.mean + f.std * np.linspace(-1.0, 1.0, rows)
            columns[f.name] = (
                np.expm1(np.maximum(z, 0.0)) if f.transform == "log1p" else z
            ).astype(np.float32)
        elif f.kind == "categorical":
            columns[f.name] = _ids(f, f.vocabulary, rows)
        else:
            vocab = spec[f.share_with].vocabulary if f.share_with else f.vocabulary
            seq = np.stack([np.roll(_ids(f, vocab, rows), -k) for k in range(f.max_len)], axis=1)
            seq[0, -1] = f.padding if f.dtype == "int64" else str(f.padding)  # a padded tail
            columns[f.name] = seq
    return as_columns(spec, columns)


def _ids(feature, vocab, rows: int) -> np.ndarray:
    string = feature.dtype == "string"
    if vocab:
        values = [vocab[i % len(vocab)] for i in range(rows)]
    else:  # hashed: any value is valid
        values = [f"warmup_{i}" if string else i for i in range(rows)]
    if rows > 1:
        values[-1] = UNSEEN if string else (max(int(v) for v in vocab) + 1 if vocab else -1)
    return np.asarray(values, dtype=object if string else np.int64)


def warmup_logs(spec, model_name: str, rows=None) -> list:
    """PredictionLogs for `spec` served as `model_name`; `rows`: None, a row count, or columns."""
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    if rows is None or isinstance(rows, (int, np.integer)):
        columns = synthetic_rows(spec, DEFAULT_ROWS if rows is None else int(rows))
    elif isinstance(rows, dict):
        columns = as_columns(spec, rows)
    else:
        raise ExportError(
            "warmup_rows must be None, a row count or a dict of columns; got "
            f"{type(rows).__name__}."
        )

    def log(signature: str, inputs: dict):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = signature
        for key, values in inputs.items():
            request.inputs[key].CopyFrom(_tensor_proto(values))
        return prediction_log_pb2.PredictionLog(
            predict_log=prediction_log_pb2.PredictLog(request=request)
        )

    first = {n: v[:1] for n, v in columns.items()}
    examples = np.asarray(serialize_examples(spec, columns), dtype=object)
    return [
        log("serving_default", first),
        log("serving_default", columns),
        log("serving_examples", {"examples": examples}),
    ]


def write_warmup(version_dir, logs) -> Path:
    import tensorflow as tf

    path = Path(version_dir) / ASSETS_EXTRA / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return path


def read_warmup(version_dir) -> list:
    """The PredictionLogs in `BASE/NAME/VERSION/assets.extra/tf_serving_warmup_requests`."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = Path(version_dir) / ASSETS_EXTRA / WARMUP_FILE
    if not path.is_file():
        raise ExportError(f"{path} does not exist: no warmup requests in {version_dir}.")
    return [
        prediction_log_pb2.PredictionLog.FromString(r.numpy())
        for r in tf.data.TFRecordDataset(str(path))
    ]


def _tensor_proto(values: np.ndarray):
    import tensorflow as tf

    if values.dtype == object:
        values = np.vectorize(
            lambda v: v if isinstance(v, bytes) else str(v).encode("utf-8"), otypes=[object]
        )(values)
        return tf.make_tensor_proto(values, dtype=tf.string)
    return tf.make_tensor_proto(values)
