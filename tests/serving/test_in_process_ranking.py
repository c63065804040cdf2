"""`rank-server --model_base_path`: the model in the ranking server's own process.

The same request ranks the same way in process as through a `tfmtl serve` PredictionService
on loopback, and the in-process servicer's refusals keep their gRPC status and message.
"""

import grpc
import numpy as np
import pytest

import tfmtl
from tfmtl.serving import RankingServer, rank_request, serve
from tfmtl.serving.model_manager import ModelManager
from tfmtl.serving.protos import ranking_pb2_grpc


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0"), tfmtl.DenseFeature("x1")])
    tasks = [tfmtl.Task("click"), tfmtl.Task("finish")]
    model = tfmtl.models.build_model("mmoe", spec, tasks, num_experts=2, expert_units=[4])
    root = tmp_path_factory.mktemp("models")
    tfmtl.export.export_saved_model(model, root, "ranker")
    return root / "ranker"


def _rank(server, request):
    with grpc.insecure_channel(server.address) as channel:
        return ranking_pb2_grpc.RankingServiceStub(channel).Rank(request, timeout=30)


def test_in_process_ranks_as_the_remote_prediction_service(base):
    rng = np.random.default_rng(0)
    candidates = {
        f"c{i}": {"x0": float(a), "x1": float(b)}
        for i, (a, b) in enumerate(rng.normal(size=(50, 2)))
    }
    request = rank_request("ranker", {}, candidates)
    predictor = serve(base, "ranker", port=0, poll_seconds=0)
    remote = RankingServer(predictor.address, port=0).start()
    local = RankingServer({"ranker": ModelManager(base, "ranker", poll_seconds=0)}, port=0)
    local.start()
    try:
        want, got = _rank(remote, request), _rank(local, request)
    finally:
        local.stop(grace=0), remote.stop(grace=0), predictor.stop(grace=0)
    assert [c.id for c in got.candidates] == [c.id for c in want.candidates]
    np.testing.assert_allclose(
        [c.score for c in got.candidates], [c.score for c in want.candidates], rtol=1e-6
    )
    assert got.model_version == want.model_version == 1
    assert "in process" in local.prediction_service


def test_in_process_refusals_keep_their_status_and_the_server_keeps_serving(base):
    local = RankingServer({"ranker": ModelManager(base, "ranker", poll_seconds=0)}, port=0)
    local.start()
    try:
        with pytest.raises(grpc.RpcError) as missing:
            _rank(local, rank_request("other", {}, {"a": {"x0": 1.0, "x1": 0.0}}))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        assert "'other'" in missing.value.details()
        with pytest.raises(grpc.RpcError) as nan:
            _rank(local, rank_request("ranker", {}, {"a": {"x0": float("nan"), "x1": 0.0}}))
        assert nan.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "x0" in nan.value.details()
        ok = _rank(local, rank_request("ranker", {}, {"a": {"x0": 1.0, "x1": 0.0}}))
        assert [c.id for c in ok.candidates] == ["a"]
    finally:
        local.stop(grace=0)
