"""Server-side batching (`--enable_batching`): one model call, each request its own rows back."""

from __future__ import annotations

import re
import threading
import time
from concurrent import futures

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.serving import helpers
from tfmtl import cli
from tfmtl.serving import ModelManager, PredictionServer, ServingError
from tfmtl.serving.batching import Batcher, BatchingOptions, read_batching_parameters

TIMEOUT_MICROS = 20_000


def start_server(exported, **options) -> PredictionServer:
    base, _ = exported
    manager = ModelManager(base / helpers.MODEL, helpers.MODEL, poll_seconds=0)
    return PredictionServer(
        {helpers.MODEL: manager}, port=0, batching=BatchingOptions(**options)
    ).start()


@pytest.fixture(scope="module")
def batching_server(exported):
    server = start_server(exported, max_batch_size=64, batch_timeout_micros=TIMEOUT_MICROS)
    yield server
    server.stop(grace=0)


def stub_for(server):
    return prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(server.address))


def predict_request(features: dict, signature: str = "serving_default", outputs=()):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = helpers.MODEL
    request.model_spec.signature_name = signature
    request.output_filter.extend(outputs)
    for key, value in features.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return request


def concurrently(stub, requests: list) -> list:
    """Send every request at once (one thread each); each answer or its RpcError, in order."""
    barrier = threading.Barrier(len(requests))

    def send(request):
        barrier.wait()
        try:
            return stub.Predict(request, 30.0)
        except grpc.RpcError as e:
            return e

    with futures.ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(send, requests))


def assert_same_outputs(got, want) -> None:
    assert sorted(got.outputs) == sorted(want.outputs)
    for key in want.outputs:
        np.testing.assert_allclose(
            tf.make_ndarray(got.outputs[key]), tf.make_ndarray(want.outputs[key]), atol=1e-6
        )


def test_concurrent_predicts_equal_unbatched_and_are_merged(
    batching_server, prediction_server, data
):
    requests = [
        predict_request(helpers.rows(data, 1 + 2 * (i % 2), offset=5 * i)) for i in range(16)
    ]
    requests.append(predict_request(helpers.rows(data, 80)))  # over max_batch_size: runs alone
    batcher = batching_server.batcher
    calls, answered = batcher.calls, batcher.requests
    got = concurrently(stub_for(batching_server), requests)
    plain = stub_for(prediction_server)
    for request, response in zip(requests, got):
        assert not isinstance(response, grpc.RpcError), response
        assert_same_outputs(response, plain.Predict(request, 30.0))
        assert response.model_spec.version.value == 1
    assert tf.make_ndarray(got[1].outputs["click"]).shape == (3,)
    assert tf.make_ndarray(got[-1].outputs["click"]).shape == (80,)
    assert batcher.requests - answered == 17
    assert batcher.calls - calls < 17


def test_a_lone_request_waits_about_the_timeout(batching_server, data):
    stub = stub_for(batching_server)
    request = predict_request(helpers.rows(data, 2))
    stub.Predict(request, 30.0)
    t0 = time.perf_counter()
    stub.Predict(request, 30.0)
    elapsed = time.perf_counter() - t0
    assert TIMEOUT_MICROS / 1e6 * 0.9 <= elapsed < 2.0


def test_different_outputs_and_signatures_are_not_mixed(
    batching_server, prediction_server, model, data
):
    from tfmtl.export import serialize_examples

    features = helpers.rows(data, 2, offset=40)
    examples = {"examples": serialize_examples(model.feature_spec, features)}
    requests = [
        predict_request(features, outputs=["click"]),
        predict_request(features, outputs=["watch_time", "finish"]),
        predict_request(features),
        predict_request(examples, signature="serving_examples"),
        predict_request(examples, signature="serving_examples", outputs=["finish"]),
    ] * 3
    got = concurrently(stub_for(batching_server), requests)
    plain = stub_for(prediction_server)
    for request, response in zip(requests, got):
        assert not isinstance(response, grpc.RpcError), response
        assert sorted(response.outputs) == sorted(
            request.output_filter or ["click", "finish", "watch_time"]
        )
        assert response.model_spec.signature_name == request.model_spec.signature_name
        assert_same_outputs(response, plain.Predict(request, 30.0))


def test_a_bad_request_fails_alone(batching_server, prediction_server, data):
    good = [predict_request(helpers.rows(data, 2, offset=3 * i)) for i in range(8)]
    nan = helpers.rows(data, 2)
    nan["x0"] = np.array([0.5, np.nan], np.float32)
    missing = {k: v for k, v in helpers.rows(data, 2).items() if k != "x3"}
    got = concurrently(
        stub_for(batching_server),
        [*good[:4], predict_request(nan), *good[4:], predict_request(missing)],
    )
    bad = [got.pop(4), got.pop()]
    for error, words in zip(bad, (["'x0'", "row 1"], ["'x3'", "missing"])):
        assert isinstance(error, grpc.RpcError) and error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert all(word in error.details() for word in words), error.details()
    plain = stub_for(prediction_server)
    for request, response in zip(good, got):
        assert not isinstance(response, grpc.RpcError), response
        assert_same_outputs(response, plain.Predict(request, 30.0))


def test_a_full_queue_is_refused_naming_the_limit(exported, data):
    server = start_server(
        exported, max_batch_size=2, batch_timeout_micros=10_000_000, max_enqueued_batches=1
    )
    try:
        stub = stub_for(server)
        with futures.ThreadPoolExecutor(1) as pool:
            first = pool.submit(stub.Predict, predict_request(helpers.rows(data, 1)), 30.0)
            deadline = time.monotonic() + 20
            while server.batcher.queued < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert server.batcher.queued == 1
            t0 = time.perf_counter()
            with pytest.raises(grpc.RpcError) as e:
                stub.Predict(predict_request(helpers.rows(data, 2)), 30.0)
            assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "max_enqueued_batches=1" in e.value.details()
            assert tf.make_ndarray(first.result(timeout=30).outputs["click"]).shape == (1,)
            assert time.perf_counter() - t0 < 5.0
    finally:
        server.stop(grace=0)


def test_close_cancels_queued_requests(batching_server, data):
    servable = batching_server.managers[helpers.MODEL].resolve()
    arrays = {k: np.asarray(v) for k, v in helpers.rows(data, 1).items()}
    batcher = Batcher(BatchingOptions(batch_timeout_micros=10_000_000, num_batch_threads=1))
    with futures.ThreadPoolExecutor(1) as pool:
        queued = pool.submit(batcher.run, servable, "serving_default", arrays, ["click"])
        deadline = time.monotonic() + 20
        while batcher.queued < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        batcher.close()
        with pytest.raises(ServingError, match="stopping") as e:
            queued.result(timeout=10)
    assert e.value.code == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(ServingError, match="stopping"):
        batcher.run(servable, "serving_default", arrays, ["click"])
    assert not any(thread.is_alive() for thread in batcher._threads)


def test_batching_parameters_file(tmp_path):
    path = tmp_path / "batching.txt"
    path.write_text(
        "# TF Serving's BatchingParameters\nmax_batch_size { value: 128 }\n"
        "batch_timeout_micros: {\n  value: 500\n}\nnum_batch_threads { value: 4 }\n"
    )
    assert read_batching_parameters(path) == BatchingOptions(128, 500, 4, 64)
    for text, words in [
        (
            "max_batch_size { value: 8 }\n\nallowed_batch_sizes { value: 8 }",
            ":3: field 'allowed_batch_sizes' is not supported",
        ),
        ("max_batch_size { value: 0 }", ":1: field 'max_batch_size' has value '0'"),
        ("num_batch_threads { value: two }", ":1: field 'num_batch_threads' has value 'two'"),
        (
            "max_enqueued_batches { 12 }",
            ":1: field 'max_enqueued_batches' reads '12' where 'value' belongs",
        ),
    ]:
        path.write_text(text)
        with pytest.raises(ValueError, match=re.escape(str(path) + words)):
            read_batching_parameters(path)


def test_batching_flags(tmp_path, capsys):
    from tfmtl.cli.batching_flags import batching_options

    file = tmp_path / "batching.txt"
    file.write_text("max_batch_size { value: 32 }\nnum_batch_threads { value: 3 }\n")
    serve = ["serve", "--model_base_path", str(tmp_path), "--model_name", "ple", "--port", "0"]
    args = cli.build_parser().parse_args(
        [
            *serve,
            "--enable_batching",
            "--batching_parameters_file",
            str(file),
            "--num_batch_threads",
            "1",
            "--batching_timeout_micros",
            "0",
        ]
    )
    assert batching_options(args) == BatchingOptions(32, 0, 1, 64)
    assert batching_options(cli.build_parser().parse_args(serve)) is None
    file.write_text("max_batch_size { value: 32 }\nthread_pool_name { value: 1 }\n")
    for extra, words in [
        (["--enable_batching", "--num_batch_threads", "0"], "--num_batch_threads must be >= 1"),
        (["--enable_batching", "--batching_max_batch_size", "-4"], "--batching_max_batch_size"),
        (["--max_enqueued_batches", "8"], "--max_enqueued_batches needs --enable_batching"),
        (
            ["--enable_batching", "--batching_parameters_file", str(file)],
            f"{file}:2: field 'thread_pool_name' is not supported",
        ),
        (
            ["--enable_batching", "--batching_parameters_file", str(tmp_path / "nope.txt")],
            "--batching_parameters_file",
        ),
    ]:
        assert cli.main([*serve, *extra]) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1, err
