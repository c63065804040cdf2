"""Hostile requests to both gRPC services: each is refused with the right status and a short
message naming the field, never INTERNAL, and the next good request on the channel succeeds."""

from __future__ import annotations

import dataclasses

import grpc
import numpy as np
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    regression_pb2,
)

from tests.serving import wire
from tfmtl.serving.tensors import to_ndarray, to_tensor_proto

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


def candidate(i, name, **value):
    """Set candidates[i] (None: all) features[name] to one FeatureValue field (`float_value=1`)."""

    def edit(request):
        for c in request.candidates if i is None else [request.candidates[i]]:
            for key, v in value.items():
                if key.endswith("_list"):
                    getattr(c.features[name], key).value.extend(v)
                else:
                    setattr(c.features[name], key, v)

    return edit


def drop(name):
    return lambda request: [c.features.pop(name) for c in request.candidates]


def fusion(**fields):
    def edit(request):
        for key, value in fields.items():
            if key == "weights":
                request.fusion.weights.update(value)
            elif key == "length_feature":
                request.fusion.length_feature.value = value
            else:
                setattr(request.fusion, key, value)

    return rank(edit)


def ids(*values):
    def edit(request):
        for c, value in zip(request.candidates, values):
            c.id = value

    return rank(edit)


def context(**changes):
    return lambda r: r.rank(context={**r.context, **changes})


RANK = cases(
    "Rank",
    ("model-name-empty", rank(lambda q: setattr(q, "model_name", "")), INVALID, ("model_name",)),
    (
        "model-name-100kb",
        rank(lambda q: setattr(q, "model_name", HUGE)),
        NOT_FOUND,
        ("(100000 chars)",),
    ),
    ("version-unknown", rank(version=2**62), NOT_FOUND, (f"version {2**62}",)),
    ("columns-without-ids", columns(ids=[]), INVALID, ("candidates is empty",)),
    (
        "candidates-over-max",
        lambda r: r.rank(candidates=[r.candidates["item0"]] * 5_001),
        INVALID,
        ("candidates", "5,001", "5,000"),
    ),
    (
        "column-ids-over-max",
        rank(candidates={}, columns={"x9": np.zeros(5_001)}),
        INVALID,
        ("candidate_columns.ids", "5,001"),
    ),
    (
        "ids-duplicate",
        ids("a", "b", "c", "d", "c"),
        INVALID,
        ("candidates[4].id 'c'", "candidates[2].id"),
    ),
    # Pins: the field was written "candidates[].id[1]".
    (
        "ids-empty-collides-with-position",
        ids("1", ""),
        INVALID,
        ("candidates[1].id is empty", "'1'", "candidates[0].id"),
    ),
    (
        "column-ids-position-collides",
        columns(ids=["", "0", "b", "c", "d", "e"]),
        INVALID,
        ("candidate_columns.ids[1] '0'", "candidate_columns.ids[0]"),
    ),
    ("ids-100kb-duplicate", ids(HUGE, HUGE), INVALID, ("candidates[1].id", "(100000 chars)")),
    ("top-k-negative", rank(top_k=-5), INVALID, ("top_k", "-5")),
    ("fusion-kind-99", fusion(kind=99), INVALID, ("fusion.kind 99",)),
    ("fusion-kind-negative", fusion(kind=-1), INVALID, ("fusion.kind -1",)),
    ("length-transform-77", fusion(length_transform=77), INVALID, ("fusion.length_transform 77",)),
    (
        "weight-nan",
        fusion(weights={"click": float("nan")}),
        INVALID,
        ("fusion.weights['click']", "nan"),
    ),
    (
        "weight-minus-inf",
        fusion(weights={"finish": float("-inf")}),
        INVALID,
        ("fusion.weights['finish']", "-inf"),
    ),
    # Pins: finite weights whose product overflowed ranked every candidate at +inf.
    (
        "weight-finite-overflow",
        fusion(weights={"click": -1e30}),
        INVALID,
        ("fusion gives candidates[0]", "inf", "keep every score finite"),
    ),
    (
        "weight-100kb-task",
        fusion(weights={HUGE: 1.0}),
        INVALID,
        ("fusion.weights[", "(100000 chars)"),
    ),
    (
        "length-feature-unknown",
        fusion(length_feature="video_length"),
        INVALID,
        ("fusion.length_feature 'video_length'",),
    ),
    (
        "length-feature-string-input",
        fusion(length_feature="segment"),
        INVALID,
        ("fusion.length_feature 'segment'", "string"),
    ),
    (
        "length-feature-string-extra",
        rank(candidate(None, "dur", string_value="long"), fusion={"length_feature": "dur"}),
        INVALID,
        ("candidates[0]", "'dur'", "string_value"),
    ),
    (
        "length-feature-nan",
        rank(candidate(2, "video_len", float_value=np.nan), fusion={"length_feature": "video_len"}),
        INVALID,
        ("'video_len'", "row 2", "nan"),
    ),
    (
        "string-for-float",
        rank(candidate(5, "x12", string_value="12s")),
        INVALID,
        ("candidates[5]", "'x12'", "string_value"),
    ),
    (
        "sequence-for-scalar",
        rank(candidate(0, "x10", float_list=[1.0, 2.0])),
        INVALID,
        ("candidates[0]", "'x10'", "float_list"),
    ),
    (
        "feature-without-value",
        rank(lambda q: q.candidates[1].features["x9"].Clear()),
        INVALID,
        ("candidates[1]", "'x9'", "no value"),
    ),
    (
        "feature-unknown",
        rank(candidate(None, "zz", float_value=1.0)),
        INVALID,
        ("'zz'", "not an input"),
    ),
    ("feature-missing", rank(drop("video_len")), INVALID, ("'video_len'", "missing")),
    # Pins: the odd feature names were listed uncut (100 KB, cut only by the 2,000-char cap).
    (
        "feature-name-100kb",
        rank(candidate(0, HUGE, float_value=1.0)),
        INVALID,
        ("differ", "(100000 chars)"),
    ),
    (
        "feature-nan",
        rank(candidate(3, "x9", float_value=np.nan)),
        INVALID,
        ("'x9'", "row 3", "nan"),
    ),
    ("context-inf", context(x0=np.inf), INVALID, ("'x0'", "inf")),
    (
        "context-int-for-string",
        context(segment=2),
        INVALID,
        ("context_features['segment']", "int64_value"),
    ),
    (
        "context-name-100kb",
        context(**{HUGE: 1.0}),
        INVALID,
        ("context_features[", "(100000 chars)"),
    ),
    ("rows-and-columns", rank(columns={"x9": np.zeros(6)}), INVALID, ("not both",)),
    (
        "column-too-long",
        columns(x9=np.zeros(7, np.float32)),
        INVALID,
        ("candidate_columns.features['x9']", "7 values"),
    ),
    (
        "column-strings-for-float",
        columns(x11=np.array(list("abcdef"))),
        INVALID,
        ("candidate_columns.features['x11']", "string_list"),
    ),
    ("column-unknown", columns(zz=np.zeros(6)), INVALID, ("candidate_columns.features['zz']",)),
    ("column-missing", columns(x9=None), INVALID, ("'x9'", "missing")),
    ("column-nan", columns(x9=floats(np.nan, 2).repeat(2)), INVALID, ("'x9'", "row 4", "nan")),
    ("facet-group-unknown", rank(facet_group="Engaged"), NOT_FOUND, ("facet_group 'Engaged'",)),
    ("facet-group-100kb", rank(facet_group=HUGE), NOT_FOUND, ("facet_group", "(100000 chars)")),
    ("fusion-variant-unknown", rank(fusion_variant="b"), NOT_FOUND, ("fusion_variant 'b'",)),
    ("signature-100kb", rank(signature_name=HUGE), NOT_FOUND, ("signature_name", "(100000 chars)")),
    (
        "examples-signature-garbage",
        rank(
            context={},
            candidates=[{"examples": "ÿ not an example"}] * 2,
            signature_name="serving_examples",
        ),
        INVALID,
        ("'examples'",),
    ),
    ("deadline-1ms", rank(), DEADLINE, (), 0.001),
)

CASES = PREDICT + OTHERS + RANK


def test_the_suite_is_large_and_distinct():
    assert len(CASES) >= 50 and len({(c.method, c.id) for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.method}-{c.id}" for c in CASES])
def test_hostile_request_is_refused_by_name(case, stubs, requests):
    with pytest.raises(grpc.RpcError) as e:
        stubs.call(case.method, case.make(requests), timeout=case.timeout)
    assert e.value.code() == case.code, (e.value.code(), e.value.details())
    wire.check_refusal(e.value, case.words)
    wire.check_good(stubs, requests)


ACCEPTED = [
    # Not refused, and rightly: what the server does with each instead.
    ("string-input-not-utf8", predict(segment=np.array([b"\xff\xfe", b"s1", b"\x80"], object))),
    ("float32-max-inputs", predict(x0=floats(3.4e38, 0), x1=floats(-3.4e38, 2))),
    ("output-filter-duplicate", output_filter("finish", "finish")),
    ("version-label-empty", spec(version_label="")),
]


@pytest.mark.parametrize("make", [m for _, m in ACCEPTED], ids=[i for i, _ in ACCEPTED])
def test_odd_but_valid_predict_answers_finite_scores(make, stubs, requests):
    """Unknown strings go to the model's out-of-vocabulary bucket; +-3.4e38 is finite and
    saturates the heads; a repeated output_filter name is answered once; an empty label means
    the latest version."""
    response = stubs.call("Predict", make(requests))
    assert response.outputs and response.model_spec.version.value == 1
    for proto in response.outputs.values():
        values = to_ndarray(proto, "output")
        assert values.shape == (3,) and np.isfinite(values).all()
