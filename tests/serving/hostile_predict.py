"""Hostile Predict, GetModelMetadata, GetModelStatus and unserved-method requests."""

from __future__ import annotations

import numpy as np
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    regression_pb2,
)

from tests.serving.hostile import (
    HUGE,
    INVALID,
    NOT_FOUND,
    UNIMPLEMENTED,
    Case,
    cases,
    claim_rows,
    examples,
    floats,
    output_filter,
    predict,
    spec,
    tensor,
)

PREDICT = cases(
    "Predict",
    ("model-name-empty", spec(name=""), INVALID, ("model_spec.name",)),
    ("model-name-wrong-case", spec(name="PLE"), NOT_FOUND, ("model_spec.name", "'PLE'")),
    ("model-name-100kb", spec(name=HUGE), NOT_FOUND, ("model_spec.name", "(100000 chars)")),
    ("version-unknown", spec(version=7), NOT_FOUND, ("model_spec.version 7",)),
    ("version-negative", spec(version=-5), NOT_FOUND, ("model_spec.version -5",)),
    (
        "version-label-100kb",
        spec(version_label=HUGE),
        NOT_FOUND,
        ("model_spec.version_label", "(100000 chars)"),
    ),
    # Pins: the message did not name model_spec.signature_name.
    (
        "signature-unknown",
        spec(signature_name="predict"),
        NOT_FOUND,
        ("model_spec.signature_name", "'predict'", "serving_default"),
    ),
    ("input-missing", predict(x7=None), INVALID, ("'x7'", "missing")),
    ("input-extra", predict(x16=np.zeros(3, np.float32)), INVALID, ("'x16'", "not an input")),
    ("input-name-empty", predict(**{"": np.zeros(3, np.float32)}), INVALID, ("Input ''",)),
    (
        "input-name-100kb",
        predict(**{HUGE: np.zeros(3, np.float32)}),
        INVALID,
        ("(100000 chars)", "not an input"),
    ),
    (
        "dtype-string-for-float",
        predict(video_len=np.array(["1m", "2m", "3m"], object)),
        INVALID,
        ("'video_len'", "string", "float32"),
    ),
    (
        "dtype-double-for-string",
        predict(segment=np.zeros(3)),
        INVALID,
        ("'segment'", "float64", "string"),
    ),
    (
        "dtype-int32-for-float",
        predict(x3=np.arange(3, dtype=np.int32)),
        INVALID,
        ("'x3'", "int32", "float32"),
    ),
    ("dtype-double-for-float", predict(x3=np.zeros(3)), INVALID, ("'x3'", "float64")),
    (
        "dtype-complex64",
        predict(tensor("x0", dtype=types_pb2.DT_COMPLEX64)),
        INVALID,
        ("'x0'", "complex64"),
    ),
    ("dtype-half", predict(tensor("x0", dtype=types_pb2.DT_HALF)), INVALID, ("'x0'", "float16")),
    (
        "dtype-resource",
        predict(tensor("x0", dtype=types_pb2.DT_RESOURCE)),
        INVALID,
        ("'x0'", "resource"),
    ),
    (
        "dtype-variant",
        predict(tensor("x0", dtype=types_pb2.DT_VARIANT)),
        INVALID,
        ("'x0'", "variant"),
    ),
    ("dtype-enum-12345", predict(tensor("x0", dtype=12345)), INVALID, ("'x0'", "DataType(12345)")),
    ("rank-2", predict(x1=np.zeros((3, 2), np.float32)), INVALID, ("'x1'", "rank 2")),
    (
        "rank-3-overflowing-int64",
        predict(tensor("x1", dims=[3, 2**32, 2**32])),
        INVALID,
        ("'x1'", "rank 3"),
    ),
    (
        "rows-disagree",
        predict(x5=np.zeros(2, np.float32)),
        INVALID,
        ("'x5'", "2 rows", "same batch size"),
    ),
    (
        "content-5-bytes-for-3-floats",
        predict(tensor("x4", tensor_content=b"\x00" * 5)),
        INVALID,
        ("'x4'", "5 bytes", "needs 12"),
    ),
    (
        "content-claims-5000-rows",
        predict(claim_rows(5000)),
        INVALID,
        ("'segment'", "holds 1 value(s)", "needs 5000"),
    ),
    ("content-claims-65536-rows", predict(claim_rows(65_536)), INVALID, ("65,536 rows", "10,000")),
    (
        "string-val-for-float",
        predict(tensor("x0", string_val=[b"a"] * 3)),
        INVALID,
        ("'x0'", "holds 0 value(s)"),
    ),
    (
        "tensor-content-for-string",
        predict(
            lambda q: q.inputs["segment"].ClearField("string_val"),
            tensor("segment", tensor_content=b"abc"),
        ),
        INVALID,
        ("'segment'", "holds 0 value(s)"),
    ),
    # Pins: a negative dim was blamed on the batch size ("-1 rows but input 'segment' has 3").
    ("dim-negative", predict(tensor("x0", dims=[-1])), INVALID, ("'x0'", "negative dimension")),
    (
        "dim-2**62",
        predict(tensor("x0", dims=[2**62])),
        INVALID,
        ("'x0'", "4,611,686,018,427,387,904 rows"),
    ),
    ("zero-rows-one-input", predict(x0=np.zeros(0, np.float32)), INVALID, ("'x0'", "empty batch")),
    (
        "rows-over-max",
        lambda r: r.predict(**{k: v[[0] * 10_001] for k, v in r.features.items()}),
        INVALID,
        ("10,001 rows", "10,000"),
    ),
    ("nan", predict(x2=floats(np.nan, 1)), INVALID, ("'x2'", "row 1", "nan")),
    ("inf", predict(x3=floats(np.inf, 2)), INVALID, ("'x3'", "row 2", "inf")),
    ("minus-inf", predict(video_len=floats(-np.inf, 0)), INVALID, ("'video_len'", "row 0", "-inf")),
    ("output-filter-unknown", output_filter("CLICK"), INVALID, ("output_filter", "'CLICK'")),
    ("output-filter-empty-name", output_filter(""), INVALID, ("output_filter", "''")),
    ("output-filter-100kb", output_filter(HUGE), INVALID, ("output_filter", "(100000 chars)")),
    # Pins: TF's parse error quoting non-UTF-8 bytes raised UnicodeDecodeError: INTERNAL.
    (
        "examples-not-utf8",
        examples(b"\xff\xfe\x00garbage", b"\x80\x81"),
        INVALID,
        ("'examples'", "serving_examples", "tf.Example"),
    ),
    # Pins: TF's multi-line error with node and op names went to the client as it was.
    (
        "examples-truncated-proto",
        examples(b"\x0a\x03abc"),
        INVALID,
        ("'examples'", "Could not parse"),
    ),
    ("examples-empty-example", examples(b""), INVALID, ("'examples'", "segment")),
    (
        "examples-float",
        examples(1.0, 2.0, dtype=np.float32),
        INVALID,
        ("'examples'", "float32", "string"),
    ),
    (
        "examples-rank-2",
        examples(b"a", edit=tensor("examples", dims=[1, 1])),
        INVALID,
        ("'examples'", "rank 2"),
    ),
    (
        "examples-given-features",
        predict(lambda q: setattr(q.model_spec, "signature_name", "serving_examples")),
        INVALID,
        ("not an input", "'examples'"),
    ),
)


def metadata(name="ple", fields=("signature_def",), version=None):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=list(fields))
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    return lambda r: request


def status(name="ple", version=None, label=None):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    return lambda r: request


OTHERS = (
    cases(
        "GetModelMetadata",
        ("metadata-no-field", metadata(fields=()), INVALID, ("metadata_field",)),
        (
            "metadata-unknown-field",
            metadata(fields=("signature_def", "graph_def")),
            INVALID,
            ("metadata_field 'graph_def'",),
        ),
        ("metadata-unknown-model", metadata(name="nope"), NOT_FOUND, ("model_spec.name",)),
        ("metadata-unknown-version", metadata(version=3), NOT_FOUND, ("model_spec.version 3",)),
    )
    + cases(
        "GetModelStatus",
        ("status-no-model", status(name=""), INVALID, ("model_spec.name",)),
        ("status-unknown-model", status(name=HUGE), NOT_FOUND, ("model_spec.name", "chars)")),
        ("status-unknown-version", status(version=-1), NOT_FOUND, ("model_spec.version -1",)),
        (
            "status-unknown-label",
            status(label="canary"),
            NOT_FOUND,
            ("model_spec.version_label 'canary'",),
        ),
    )
    + [
        Case(
            method,
            method.lower(),
            lambda r, proto=proto: proto(),
            UNIMPLEMENTED,
            (f"{method} is not served", "Predict"),
        )
        for method, proto in [
            ("Classify", classification_pb2.ClassificationRequest),
            ("Regress", regression_pb2.RegressionRequest),
            ("MultiInference", inference_pb2.MultiInferenceRequest),
        ]
    ]
)
