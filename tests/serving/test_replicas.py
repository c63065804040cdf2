"""Several PredictionService replicas behind one RankingServer: a replica lost costs no ranking.

(a) in-process servers: round-robin, one stopped (every ranking still succeeds, with the
single-server scores), restarted on its port (it gets calls again after its backoff);
(b) two `tfmtl serve` processes under 8 client threads, one SIGKILLed mid-load: no ranking
fails, not even in the first second (no retry window is allowed), and rankings continue.
"""

from __future__ import annotations

import logging
import select
import signal
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest

from tests.serving import helpers
from tests.serving.test_prediction_service import predict_request
from tfmtl.serving import RankingClient, RankingServer, serve
from tfmtl.serving.backends import PredictionBackends, split_addresses

PREDICT = {
    "service": "tensorflow.serving.PredictionService",
    "method": "Predict",
    "model": "ple",
    "version": "1",
    "code": "OK",
}


def predicts(server) -> float:
    """Predicts `server` answered OK (its own metrics registry)."""
    return server.metrics.registry.get_sample_value("tfmtl_requests_total", PREDICT) or 0.0


def same_ranking(got, want) -> bool:
    return [c.id for c in got.candidates] == [c.id for c in want.candidates] and np.allclose(
        [c.score for c in got.candidates], [c.score for c in want.candidates], rtol=1e-6
    )


@pytest.fixture(scope="module")
def columns(data):
    return helpers.rows(data, 8, offset=40)


@pytest.fixture(scope="module")
def want(ranking_server, columns):
    """The ranking one PredictionServer gives (the session's single-replica servers)."""
    with RankingClient(ranking_server.address) as client:
        return client.rank("ple", {}, columns=columns)


def test_split_addresses_refuses_empty_and_repeated():
    assert split_addresses("a:1, b:2") == split_addresses(["a:1", "b:2"]) == ["a:1", "b:2"]
    with pytest.raises(ValueError, match="prediction_service 'a:1,' has an empty address"):
        split_addresses("a:1,")
    with pytest.raises(ValueError, match="--prediction_service lists a:1 more than once"):
        split_addresses("a:1,b:2,a:1", name="--prediction_service")


def test_a_stopped_replica_costs_no_ranking_and_comes_back(exported, columns, want, caplog):
    base, _ = exported
    first, second = (
        serve(base / helpers.MODEL, helpers.MODEL, port=0, poll_seconds=0) for _ in range(2)
    )
    ranking = RankingServer(f"{first.address},{second.address}", port=0, timeout=10).start()
    client = RankingClient(ranking.address, timeout=10)
    back = None
    try:
        for _ in range(6):
            assert same_ranking(client.rank("ple", {}, columns=columns), want)
        assert predicts(first) >= 2 and predicts(second) >= 2  # round-robin
        port = second.port
        second.stop(grace=0)
        with caplog.at_level(logging.INFO, logger="tfmtl.serving"):
            for _ in range(20):
                assert same_ranking(client.rank("ple", {}, columns=columns), want)
            assert ranking.backends.down() == [second.address]
            back = serve(base / helpers.MODEL, helpers.MODEL, port=port, poll_seconds=0)
            deadline = time.monotonic() + 20
            while predicts(back) == 0 and time.monotonic() < deadline:
                assert same_ranking(client.rank("ple", {}, columns=columns), want)
                time.sleep(0.05)
        assert predicts(back) > 0 and ranking.backends.down() == []
        lines = [r.getMessage() for r in caplog.records if "replica" in r.getMessage()]
        assert sum(f"replica {second.address} is down" in line for line in lines) == 1, lines
        assert sum(f"replica {second.address} answers again" in line for line in lines) == 1, lines
    finally:
        client.close()
        ranking.stop(grace=0)
        for server in (first, second, back):
            if server is not None:
                server.stop(grace=0)


def test_every_replica_down_is_still_tried_and_reported(exported):
    base, _ = exported
    server = serve(base / helpers.MODEL, helpers.MODEL, port=0, poll_seconds=0)
    address = server.address
    server.stop(grace=0)
    backends = PredictionBackends([address, "127.0.0.1:1"], backoff_seconds=60)
    try:
        for _ in range(3):  # both down, backoffs a minute away: each call still tries each once
            with pytest.raises(grpc.RpcError) as failed:
                backends.Predict(predict_request({}), timeout=5)
            assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
        assert sorted(backends.down()) == sorted([address, "127.0.0.1:1"])
        server = serve(
            base / helpers.MODEL,
            helpers.MODEL,
            port=int(address.rpartition(":")[2]),
            poll_seconds=0,
        )
        deadline = time.monotonic() + 20
        while address in backends.down() and time.monotonic() < deadline:
            with pytest.raises(
                grpc.RpcError
            ) as failed:  # no features: the replica answers, and refuses it
                backends.Predict(predict_request({}), timeout=5)
            if failed.value.code() != grpc.StatusCode.UNAVAILABLE:
                assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            time.sleep(0.1)
        assert backends.down() == ["127.0.0.1:1"]
    finally:
        backends.close()
        server.stop(grace=0)


def start_replica(base, log_file) -> subprocess.Popen:
    argv = [
        sys.executable,
        "-m",
        "tfmtl.cli",
        "serve",
        "--model_base_path",
        str(base / helpers.MODEL),
        "--model_name",
        helpers.MODEL,
        "--port",
        "0",
        "--file_system_poll_wait_seconds",
        "0",
    ]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log_file, text=True)


def replica_address(process: subprocess.Popen, deadline: float) -> str:
    """host:port from the `[tfmtl] PredictionService ...

    on HOST:PORT` line `tfmtl serve` prints once ready.
    """
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"tfmtl serve exited with {process.wait(5)} before it was ready.")
        if line.startswith("[tfmtl] PredictionService"):
            return line.split(" on ", 1)[1].split()[0]
    raise TimeoutError("tfmtl serve was not ready within 60 s.")


def test_sigkill_of_a_replica_under_load_fails_no_ranking(exported, columns, want, tmp_path):
    base, _ = exported
    log_file = open(tmp_path / "replicas.log", "w")
    processes = [start_replica(base, log_file) for _ in range(2)]
    ranking, stop, threads = None, threading.Event(), []
    results = {"ok": [], "wrong": [], "failed": []}
    try:
        deadline = time.monotonic() + 60
        addresses = [replica_address(p, deadline) for p in processes]
        ranking = RankingServer(addresses, port=0, timeout=10).start()

        def load():
            with RankingClient(ranking.address, timeout=10) as client:
                while not stop.is_set():
                    try:
                        response = client.rank("ple", {}, columns=columns)
                    except grpc.RpcError as e:
                        results["failed"].append((time.monotonic(), e.code(), e.details()))
                        continue
                    results["ok" if same_ranking(response, want) else "wrong"].append(
                        time.monotonic()
                    )

        threads = [threading.Thread(target=load, daemon=True) for _ in range(8)]
        for thread in threads:
            thread.start()
        time.sleep(2.0)
        killed_at = time.monotonic()
        processes[1].send_signal(signal.SIGKILL)
        time.sleep(4.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
        if ranking is not None:
            ranking.stop(grace=0)
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(10)
        log_file.close()
    assert processes[1].returncode == -signal.SIGKILL
    assert results["failed"] == [] and results["wrong"] == [], results["failed"][:5]
    before = sum(t < killed_at for t in results["ok"])
    after = sum(t > killed_at + 1.0 for t in results["ok"])
    assert before > 8 and after > 8, (before, after)
    retried = (
        ranking.metrics.registry.get_sample_value(
            "tfmtl_backend_errors_total", {"call": "Predict", "code": "UNAVAILABLE"}
        )
        or 0
    )
    assert retried >= 1  # the killed replica was called, failed, and those calls went to the other
