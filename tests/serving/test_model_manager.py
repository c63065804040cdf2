"""Versions on disk: hot reload under load, corrupt or half-written versions skipped, policies."""

from __future__ import annotations

import shutil
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from tests.serving import helpers
from tests.serving.test_prediction_service import predict_request
from tfmtl.serving import ModelManager, PredictionServer, VersionPolicy

AVAILABLE, END = (
    get_model_status_pb2.ModelVersionStatus.AVAILABLE,
    get_model_status_pb2.ModelVersionStatus.END,
)


@pytest.fixture
def base(tmp_path, exported):
    """A fresh base path holding a copy of the session's version 1."""
    shutil.copytree(exported[1], tmp_path / helpers.MODEL / "1")
    return tmp_path


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_version_policy_selects():
    assert VersionPolicy.parse("latest").select([3, 1, 2]) == [3]
    assert VersionPolicy.parse("latest:2").select([3, 1, 2]) == [2, 3]
    assert VersionPolicy.parse("all").select([2, 1]) == [1, 2]
    assert VersionPolicy.parse("specific:1,3").select([1, 2, 3, 4]) == [1, 3]
    for bad in ("newest", "latest:0", "specific:", "specific:a", "all:2"):
        with pytest.raises(ValueError, match="Version policy"):
            VersionPolicy.parse(bad)


def test_hot_reload_under_concurrent_requests(base, model, data):
    manager = ModelManager(base / helpers.MODEL, helpers.MODEL, poll_seconds=0.1)
    server = PredictionServer({helpers.MODEL: manager}, port=0).start()
    features = helpers.rows(data, 16)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(server.address))
    failures, versions, stop = [], [], threading.Event()

    def client():
        request = predict_request(features)
        while not stop.is_set():
            started = time.monotonic()
            try:
                response = stub.Predict(request, 30.0)
                versions.append((started, response.model_spec.version.value))
            except grpc.RpcError as e:  # pragma: no cover - the assertion below reports it
                failures.append(f"{e.code()}: {e.details()}")

    threads = [threading.Thread(target=client) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        assert wait_for(lambda: len(versions) > 20)
        other = helpers.tiny_model(data, seed=7)
        helpers.export(other, base, version=2)
        assert wait_for(lambda: manager.versions == [2]), manager.versions
        swapped = time.monotonic()
        n = len(versions)
        assert wait_for(lambda: len(versions) > n + 20)
    finally:
        stop.set()
        for t in threads:
            t.join()
        server.stop(grace=0)
    assert failures == []
    assert {v for _, v in versions} == {1, 2}
    assert {v for started, v in versions if started > swapped} == {2}, (
        "a request reached an unloaded version"
    )
    response_model = helpers.keras_predict(other, features)
    served = manager.resolve().run("serving_default", features, ["click"])["click"]
    np.testing.assert_allclose(served, response_model["click"], atol=1e-6)


def test_corrupt_and_half_written_versions_are_skipped(base, model, data, caplog):
    manager = ModelManager(base / helpers.MODEL, helpers.MODEL, poll_seconds=0)
    server = PredictionServer({helpers.MODEL: manager}, port=0).start()
    try:
        corrupt = base / helpers.MODEL / "3"
        shutil.copytree(base / helpers.MODEL / "1", corrupt)
        (corrupt / "saved_model.pb").write_bytes(b"this is not a SavedModel")
        (base / helpers.MODEL / "4").mkdir()  # half-written: no saved_model.pb yet
        (base / helpers.MODEL / ".tmp-5").mkdir()  # an export in progress: not a version
        with caplog.at_level("ERROR", logger="tfmtl.serving"):
            assert manager.poll() == [1]
        assert "version 3" in caplog.text and "version 4" in caplog.text
        stub = model_service_pb2_grpc.ModelServiceStub(grpc.insecure_channel(server.address))
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = helpers.MODEL
        states = {s.version: s for s in stub.GetModelStatus(request, 10.0).model_version_status}
        assert states[1].state == AVAILABLE
        assert states[3].state == END and states[3].status.error_message
        assert states[4].state == END and "saved_model.pb" in states[4].status.error_message
        features = helpers.rows(data, 4)
        predict = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(server.address)
        )
        response = predict.Predict(predict_request(features), 10.0)
        assert response.model_spec.version.value == 1
        np.testing.assert_allclose(
            tf.make_ndarray(response.outputs["finish"]),
            helpers.keras_predict(model, features)["finish"],
            atol=1e-6,
        )
        # The half-written version completes: it is retried and served.
        shutil.rmtree(base / helpers.MODEL / "4")
        helpers.copy_version(base, 1, 4)
        assert manager.poll() == [4]
        assert manager.states(1)[0].state == "END"
    finally:
        server.stop(grace=0)


def test_all_policy_and_labels(base):
    helpers.copy_version(base, 1, 2)
    manager = ModelManager(
        base / helpers.MODEL,
        helpers.MODEL,
        policy="all",
        poll_seconds=0,
        version_labels={"stable": 1, "canary": 2},
    ).start()
    try:
        assert manager.versions == [1, 2]
        assert manager.resolve().version == 2
        assert manager.resolve(label="stable").version == 1
        shutil.rmtree(base / helpers.MODEL / "2")
        assert manager.poll() == [1]
    finally:
        manager.stop()
