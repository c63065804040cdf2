"""Both servers' operability: grpc.health.v1, reflection, Prometheus metrics, backend failures."""

from __future__ import annotations

import logging
import shutil
import socket
import threading
import time
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import prediction_service_pb2_grpc

from tests.serving import helpers
from tests.serving.test_prediction_service import predict_request
from tfmtl import cli
from tfmtl.serving import ModelManager, PredictionServer, RankingServer, rank_request
from tfmtl.serving.metrics import log_backend_failure
from tfmtl.serving.protos import ranking_pb2_grpc

HEALTH = health_pb2.HealthCheckResponse
SERVING, NOT_SERVING = HEALTH.SERVING, HEALTH.NOT_SERVING
PREDICTION, RANKING = "tensorflow.serving.PredictionService", "tfmtl.serving.RankingService"
ALWAYS = {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}
OK, UNAVAILABLE = grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE


def check(address: str, service: str = ""):
    request = health_pb2.HealthCheckRequest(service=service)
    with grpc.insecure_channel(address) as channel:
        return health_pb2_grpc.HealthStub(channel).Check(request, timeout=10).status


def scrape(server) -> dict:
    """`/metrics` over HTTP as {(sample name, sorted label items): value}."""
    url = f"http://127.0.0.1:{server.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    families = text_string_to_metric_families(text)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


def sample(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def call(method, request, n: int = 1) -> list:
    """The status code of each of `n` calls."""
    codes = []
    for _ in range(n):
        try:
            method(request, timeout=20)
            codes.append(OK)
        except grpc.RpcError as e:
            codes.append(e.code())
    return codes


@pytest.fixture
def servers(tmp_path, exported):
    """A PredictionServer on a copy of version 1, a RankingServer behind it, both with metrics."""
    shutil.copytree(exported[1], tmp_path / helpers.MODEL / "1")
    manager = ModelManager(tmp_path / helpers.MODEL, helpers.MODEL, poll_seconds=0)
    prediction = PredictionServer({helpers.MODEL: manager}, port=0, metrics_port=0).start()
    ranking = RankingServer(prediction.address, port=0, metrics_port=0, info_ttl_seconds=600)
    yield prediction, ranking.start()
    ranking.stop(grace=0)
    prediction.stop(grace=0)


@pytest.fixture
def rank_stub(servers):
    with grpc.insecure_channel(servers[1].address) as channel:
        yield ranking_pb2_grpc.RankingServiceStub(channel)


def test_model_health_follows_versions_and_stop(tmp_path, exported):
    base = tmp_path / helpers.MODEL
    base.mkdir()
    manager = ModelManager(base, helpers.MODEL, poll_seconds=0)
    server = PredictionServer({helpers.MODEL: manager}, port=0, metrics_port=0).start()
    try:
        assert check(server.address) == SERVING and check(server.address, PREDICTION) == SERVING
        assert check(server.address, helpers.MODEL) == NOT_SERVING
        assert sample(scrape(server), "tfmtl_model_versions_loaded", model=helpers.MODEL) == 0

        shutil.copytree(exported[1], base / "1")
        assert manager.poll() == [1]
        assert check(server.address, helpers.MODEL) == SERVING
        assert sample(scrape(server), "tfmtl_model_versions_loaded", model=helpers.MODEL) == 1

        shutil.rmtree(base / "1")
        assert manager.poll() == []
        assert check(server.address, helpers.MODEL) == NOT_SERVING
        with pytest.raises(grpc.RpcError) as unknown:
            check(server.address, "no-such-service")
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

        with grpc.insecure_channel(server.address) as channel:
            request = health_pb2.HealthCheckRequest(service="")
            watch = health_pb2_grpc.HealthStub(channel).Watch(request, timeout=20)
            assert next(watch).status == SERVING
            stopping = threading.Thread(target=server.stop, kwargs={"grace": 2.0})
            stopping.start()
            assert next(watch).status == NOT_SERVING
            stopping.join()
    finally:
        server.stop(grace=0)


def test_health_and_reflection_list_each_servers_services(prediction_server, ranking_server):
    assert check(ranking_server.address) == SERVING
    assert check(ranking_server.address, RANKING) == SERVING
    assert check(prediction_server.address, helpers.MODEL) == SERVING
    expected = {
        ranking_server.address: {RANKING},
        prediction_server.address: {PREDICTION, "tensorflow.serving.ModelService"},
    }
    for address, services in expected.items():
        with grpc.insecure_channel(address) as channel:
            database = ProtoReflectionDescriptorDatabase(channel)
            assert set(database.get_services()) == services | ALWAYS
            for name in services:
                assert database.FindFileContainingSymbol(name).service
    assert ranking_server.metrics_port is None


def test_metrics_count_requests_by_code_and_model(servers, rank_stub, data):
    prediction, ranking = servers
    with grpc.insecure_channel(prediction.address) as channel:
        predict = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict
        assert call(predict, predict_request(helpers.rows(data, 4)), 3) == [OK] * 3
        call(predict, predict_request({}), 2)  # INVALID_ARGUMENT: no inputs
        call(predict, predict_request({}, name="no-such-model-x"), 2)

    samples = scrape(prediction)
    labels = {"service": PREDICTION, "method": "Predict"}
    requests = {
        code: sample(
            samples, "tfmtl_requests_total", **labels, model=model, version=version, code=code
        )
        for model, version, code in (
            ("ple", "1", "OK"),
            ("ple", "", "INVALID_ARGUMENT"),
            ("", "", "NOT_FOUND"),
        )
    }
    assert requests == {"OK": 3, "INVALID_ARGUMENT": 2, "NOT_FOUND": 2}
    assert sample(samples, "tfmtl_request_seconds_count", **labels, model="ple") == 5
    assert sample(samples, "tfmtl_request_seconds_bucket", **labels, model="ple", le="10.0") == 5
    assert sample(samples, "tfmtl_request_seconds_bucket", **labels, model="", le="+Inf") == 2
    assert not any("no-such-model" in value for _, items in samples for _, value in items)

    columns = helpers.rows(data, 3)
    assert call(rank_stub.Rank, rank_request("ple", {}, columns=columns), 2) == [OK] * 2
    call(rank_stub.Rank, rank_request("no-such-model-y", {}, columns=columns))
    samples = scrape(ranking)
    labels = {"service": RANKING, "method": "Rank", "fusion_variant": ""}
    assert (
        sample(
            samples,
            "tfmtl_requests_total",
            **{**labels, "fusion_variant": "default"},
            model="ple",
            version="1",
            code="OK",
        )
        == 2
    )  # answered: the variant that scored it
    assert (
        sample(samples, "tfmtl_requests_total", **labels, model="", version="", code="NOT_FOUND")
        == 1
    )
    assert (
        sample(samples, "tfmtl_backend_errors_total", call="GetModelMetadata", code="NOT_FOUND")
        == 1
    )
    assert (
        sample(samples, "tfmtl_request_seconds_count", service=RANKING, method="Rank", model="ple")
        == 2
    )


def test_a_taken_metrics_port_is_refused_naming_it(servers, tmp_path):
    prediction, _ = servers
    empty = ModelManager(tmp_path / "empty", "empty", poll_seconds=0.05)
    taken = PredictionServer({"empty": empty}, port=0, metrics_port=prediction.metrics_port)
    with pytest.raises(OSError, match=f"metrics_port to 127.0.0.1:{prediction.metrics_port}"):
        taken.start()
    # Nothing the failed start took is left running: the model's poll thread stopped with it.
    assert not empty._thread.is_alive() and taken._server is None


def test_backend_failure_is_logged_once_and_counted(servers, rank_stub, data, caplog):
    prediction, ranking = servers
    request = rank_request("ple", {}, columns=helpers.rows(data, 3))
    assert call(rank_stub.Rank, request) == [OK]
    prediction.stop(grace=0)
    with caplog.at_level(logging.WARNING, logger="tfmtl.serving"):
        assert call(rank_stub.Rank, request, 8) == [UNAVAILABLE] * 8
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "tfmtl.serving" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1, warnings
    assert f"PredictionService Predict at {prediction.address} failed: UNAVAILABLE" in warnings[0]
    samples = scrape(ranking)
    assert sample(samples, "tfmtl_backend_errors_total", call="Predict", code="UNAVAILABLE") == 8
    assert (
        sample(
            samples,
            "tfmtl_requests_total",
            service=RANKING,
            method="Rank",
            model="ple",
            version="",
            code="UNAVAILABLE",
            fusion_variant="",
        )
        == 8
    )


def test_held_back_failures_are_counted_on_the_next_line(caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"  # closed again: nothing listens there
    with grpc.insecure_channel(address) as channel:
        predict = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict
        with pytest.raises(grpc.RpcError) as failed:
            predict(predict_request({}), timeout=5)
    with caplog.at_level(logging.WARNING, logger="tfmtl.serving"):
        for _ in range(3):
            log_backend_failure("Predict", address, failed.value, every=0.3)
        time.sleep(0.35)
        log_backend_failure("GetModelMetadata", address, failed.value, every=0.3)
    lines = [r.getMessage() for r in caplog.records if r.name == "tfmtl.serving"]
    assert len(lines) == 2 and "GetModelMetadata" in lines[1]
    assert "(2 more UNAVAILABLE failures at this address since the last such line)" in lines[1]


def test_metrics_port_flag(capsys):
    parser = cli.build_parser()
    for argv in (
        ["serve", "--model_base_path", "m/ple", "--model_name", "ple"],
        ["rank-server", "--prediction_service", "localhost:8500"],
    ):
        assert parser.parse_args(argv).metrics_port is None
        assert parser.parse_args(argv + ["--metrics_port", "9100"]).metrics_port == 9100
        with pytest.raises(SystemExit):
            parser.parse_args(argv + ["--metrics_port", "70000"])
        assert "--metrics_port: '70000' is not a port" in capsys.readouterr().err
