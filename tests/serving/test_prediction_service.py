"""The embedded PredictionService, called exactly as TF Serving's example clients call theirs."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from tests.serving import helpers

INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND


@pytest.fixture(scope="module")
def stub(prediction_server):
    channel = grpc.insecure_channel(prediction_server.address)
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel)
    channel.close()


def predict_request(features: dict, name: str = helpers.MODEL, signature: str = "serving_default"):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    for key, value in features.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return request


def test_predict_equals_model_predict(stub, model, data):
    features = helpers.rows(data, 7)
    response = stub.Predict(predict_request(features), 10.0)
    expected = helpers.keras_predict(model, features)
    assert sorted(response.outputs) == sorted(expected) == ["click", "finish", "watch_time"]
    for task, want in expected.items():
        got = tf.make_ndarray(response.outputs[task])
        assert got.dtype == np.float32 and got.shape == (7,)
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert response.model_spec.name == "ple" and response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"


def test_serving_examples_signature_agrees(stub, model, data):
    from tfmtl.export import serialize_examples

    features = helpers.rows(data, 4)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "ple"
    request.model_spec.signature_name = "serving_examples"
    request.inputs["examples"].CopyFrom(
        tf.make_tensor_proto(serialize_examples(model.feature_spec, features))
    )
    response = stub.Predict(request, 10.0)
    for task, want in helpers.keras_predict(model, features).items():
        np.testing.assert_allclose(tf.make_ndarray(response.outputs[task]), want, atol=1e-6)


def test_version_and_output_filter(stub, data):
    request = predict_request(helpers.rows(data, 3))
    request.model_spec.version.value = 1
    request.output_filter.append("finish")
    response = stub.Predict(request, 10.0)
    assert list(response.outputs) == ["finish"]


def test_get_model_metadata_signature_def(stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "ple"
    request.metadata_field.append("signature_def")
    response = stub.GetModelMetadata(request, 10.0)
    defs = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(defs)
    assert {"serving_default", "serving_examples"} <= set(defs.signature_def)
    default = defs.signature_def["serving_default"]
    assert sorted(default.outputs) == ["click", "finish", "watch_time"]
    assert default.inputs["segment"].dtype == tf.string.as_datatype_enum
    assert default.inputs["x0"].dtype == tf.float32.as_datatype_enum
    assert response.model_spec.version.value == 1


def test_get_model_status(prediction_server):
    stub = model_service_pb2_grpc.ModelServiceStub(grpc.insecure_channel(prediction_server.address))
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "ple"
    response = stub.GetModelStatus(request, 10.0)
    [status] = response.model_version_status
    assert status.version == 1
    assert status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    request.model_spec.version.value = 9
    with pytest.raises(grpc.RpcError) as e:
        stub.GetModelStatus(request, 10.0)
    assert e.value.code() == NOT_FOUND and "9" in e.value.details()


def _edit(good, **changes):
    """A request maker: `good`'s rows with `changes` (None: the feature left out)."""

    def make():
        features = {**good, **{k: v for k, v in changes.items() if v is not None}}
        for k in [k for k, v in changes.items() if v is None]:
            features.pop(k)
        return predict_request(features)

    return make


def _spec(good, **fields):
    """A request maker: `good` with `model_spec` fields set (`version`: its value)."""

    def make():
        request = predict_request(good)
        for key, value in fields.items():
            if key == "version":
                request.model_spec.version.value = value
            else:
                setattr(request.model_spec, key, value)
        return request

    return make


def _raw(good, name, mutate):
    """A request maker: `good` with the TensorProto of input `name` changed by `mutate`."""

    def make():
        request = predict_request(good)
        mutate(request.inputs[name])
        return request

    return make


def _malformed(data):
    """(case id, request maker, status, words the message must contain)."""
    good = helpers.rows(data, 3)
    return _malformed_spec(good) + _malformed_inputs(good) + _malformed_batches(good)


def _malformed_spec(good):
    """Cases whose model_spec, output_filter or examples are wrong."""

    def output_filter():
        request = predict_request(good)
        request.output_filter.append("ctr")
        return request

    def garbage_examples():
        return predict_request(
            {"examples": np.array([b"not a tf.Example", b"\x00\x01"], dtype=object)},
            signature="serving_examples",
        )

    def spec(**fields):
        return _spec(good, **fields)

    return [
        ("garbage serialized examples", garbage_examples, INVALID, ["serving_examples"]),
        ("empty model name", spec(name=""), INVALID, ["model_spec.name"]),
        ("unknown model", spec(name="nope"), NOT_FOUND, ["'nope'"]),
        ("unknown version", spec(version=42), NOT_FOUND, ["version 42"]),
        ("unknown version label", spec(version_label="canary"), NOT_FOUND, ["'canary'"]),
        ("unknown signature", spec(signature_name="serving_nope"), NOT_FOUND, ["'serving_nope'"]),
        ("unknown output_filter", output_filter, INVALID, ["output_filter", "'ctr'"]),
    ]


def _malformed_inputs(good):
    """Cases whose inputs are wrong: missing, unknown, mistyped, misshapen, oversize."""

    def edit(**changes):
        return _edit(good, **changes)

    return [
        ("missing input", edit(x3=None), INVALID, ["'x3'", "missing"]),
        ("unknown input", edit(colour=np.array(["red"] * 3)), INVALID, ["'colour'"]),
        (
            "string for float input",
            edit(x0=np.array(["a", "b", "c"])),
            INVALID,
            ["'x0'", "string", "float32"],
        ),
        (
            "float for string input",
            edit(segment=np.zeros(3, np.float32)),
            INVALID,
            ["'segment'", "float", "string"],
        ),
        (
            "int64 for float input",
            edit(video_len=np.arange(3, dtype=np.int64)),
            INVALID,
            ["'video_len'", "int64"],
        ),
        ("rank 2 input", edit(x1=np.zeros((3, 1), np.float32)), INVALID, ["'x1'", "rank"]),
        ("scalar input", edit(x2=np.float32(1.0)), INVALID, ["'x2'", "rank"]),
        ("batch mismatch", edit(x5=np.zeros(4, np.float32)), INVALID, ["'x5'", "batch"]),
    ]


def _malformed_batches(good):
    """Cases whose batch or tensor content is wrong: empty, oversize, short, unknown rank."""

    def raw(name, mutate):
        return _raw(good, name, mutate)

    return [
        (
            "empty batch",
            lambda: predict_request({k: v[:0] for k, v in good.items()}),
            INVALID,
            ["empty batch"],
        ),
        (
            "oversize batch",
            lambda: predict_request({k: np.repeat(v[:1], 70_000) for k, v in good.items()}),
            INVALID,
            ["70,000 rows"],
        ),
        (
            "content shorter than shape",
            raw(
                "x4",
                lambda t: (
                    t.tensor_shape.dim[0].__setattr__("size", 3)
                    or setattr(t, "tensor_content", t.tensor_content[:4])
                ),
            ),
            INVALID,
            ["'x4'"],
        ),
        (
            "unknown rank tensor",
            raw("x6", lambda t: t.tensor_shape.__setattr__("unknown_rank", True)),
            INVALID,
            ["'x6'", "rank"],
        ),
    ]


def test_malformed_requests_named_and_server_survives(stub, model, data):
    cases = _malformed(data)
    assert len(cases) >= 15
    for case, make, code, words in cases:
        with pytest.raises(grpc.RpcError) as e:
            stub.Predict(make(), 30.0)
        assert e.value.code() == code, (case, e.value.code(), e.value.details())
        for word in words:
            assert word in e.value.details(), (case, word, e.value.details())
    features = helpers.rows(data, 5)
    response = stub.Predict(predict_request(features), 10.0)
    np.testing.assert_allclose(
        tf.make_ndarray(response.outputs["click"]),
        helpers.keras_predict(model, features)["click"],
        atol=1e-6,
    )


def test_bad_metadata_requests(stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "ple"
    with pytest.raises(grpc.RpcError) as e:
        stub.GetModelMetadata(request, 10.0)
    assert e.value.code() == INVALID and "metadata_field" in e.value.details()
    request.metadata_field.append("graph")
    with pytest.raises(grpc.RpcError) as e:
        stub.GetModelMetadata(request, 10.0)
    assert e.value.code() == INVALID and "'graph'" in e.value.details()
