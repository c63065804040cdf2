"""The ranking service over a real PredictionService: order == numpy fusion of model.predict."""

from __future__ import annotations

import dataclasses
import json

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import prediction_service_pb2_grpc

from tests.serving import helpers
from tests.serving.helpers import RANK_CANDIDATES as N
from tests.serving.helpers import RANK_CONTEXT as CONTEXT
from tests.serving.helpers import check_ranking
from tfmtl.export.examples import example_request
from tfmtl.serving import RankingClient, rank_request
from tfmtl.serving.model_info import ModelInfoCache
from tfmtl.serving.ranking_service import RankingServicer


def test_default_fusion_is_product_of_binary_heads(client, model, query):
    context, candidates, batch = query
    p = helpers.keras_predict(model, batch)
    response = client.rank("ple", context, candidates)
    check_ranking(response, p, p["click"].astype(np.float64) * p["finish"], list(candidates))
    assert response.model_version == 1 and response.model_name == "ple"
    assert dict(response.fusion.weights) == {"click": 1.0, "finish": 1.0, "watch_time": 0.0}


def test_override_weights_and_length_factor(client, model, query):
    context, candidates, batch = query
    p = {k: v.astype(np.float64) for k, v in helpers.keras_predict(model, batch).items()}
    fusion = {
        "weights": {"finish": 2.0},
        "length_feature": "video_len",
        "length_transform": "log1p",
    }
    response = client.rank("ple", context, candidates, fusion=fusion)
    fused = p["click"] * p["finish"] ** 2 * np.log1p(batch["video_len"].astype(np.float64))
    check_ranking(response, p, fused, list(candidates))


def test_weighted_sum_sigmoid_of_a_context_length(client, model, query):
    context, candidates, batch = query
    p = {k: v.astype(np.float64) for k, v in helpers.keras_predict(model, batch).items()}
    fusion = {
        "kind": "weighted_sum",
        "weights": {"click": 0.2, "finish": 0.5, "watch_time": 0.1},
        "length_feature": "x5",
        "length_transform": "sigmoid",
    }
    response = client.rank("ple", context, candidates, fusion=fusion)
    fused = (0.2 * p["click"] + 0.5 * p["finish"] + 0.1 * p["watch_time"]) / (
        1 + np.exp(-batch["x5"].astype(float))
    )
    check_ranking(response, p, fused, list(candidates))


def test_replace_weights_and_top_k(client, model, query):
    context, candidates, batch = query
    p = helpers.keras_predict(model, batch)
    response = client.rank(
        "ple",
        context,
        candidates,
        fusion={"weights": {"watch_time": 1.0}, "replace_weights": True},
        top_k=3,
    )
    order = np.argsort(-p["watch_time"].astype(np.float64), kind="stable")[:3]
    assert [c.id for c in response.candidates] == [list(candidates)[i] for i in order]


def test_facet_routing_uses_only_the_group(client, model, query):
    context, candidates, batch = query
    p = helpers.keras_predict(model, batch)
    response = client.rank("ple", context, candidates, facet_group="engaged")
    group = {k: p[k] for k in ("finish", "watch_time")}
    check_ranking(response, group, p["finish"].astype(np.float64), list(candidates))
    assert response.facet_group == "engaged" and dict(response.fusion.weights) == {
        "finish": 1.0,
        "watch_time": 0.0,
    }


@pytest.fixture(scope="module")
def esmm(tmp_path_factory):
    """A tiny ESMM (pCTCVR = pCTR x pCVR) on the funnel data, behind its own servers."""
    from tfmtl import training
    from tfmtl.data.funnel import load_funnel
    from tfmtl.models import build_esmm
    from tfmtl.serving import RankingServer, serve

    data = load_funnel(rows=600, seed=0)
    training.set_seed(0)
    model = build_esmm(data.spec, [dataclasses.replace(t, tower_units=(4,)) for t in data.tasks])
    base = tmp_path_factory.mktemp("esmm")
    helpers.export(model, base, name="esmm", version=1)
    predictions = serve(base / "esmm", "esmm", port=0, poll_seconds=0)
    ranking = RankingServer(predictions.address, port=0).start()
    with RankingClient(ranking.address) as c:
        yield data, model, c, base / "esmm"
    ranking.stop(grace=0)
    predictions.stop(grace=0)


def test_esmm_default_ranks_by_pctcvr_alone(esmm):
    data, model, client, export = esmm
    features = helpers.rows(data, N)
    body = example_request(export, candidates=N, rows=features)
    response = client.rank("esmm", body["context"], body["candidates"])
    assert dict(response.fusion.weights) == {"ctr": 0.0, "cvr": 0.0, "ctcvr": 1.0}
    p = helpers.keras_predict(model, features)
    np.testing.assert_allclose(
        p["ctcvr"], p["ctr"] * p["cvr"], rtol=1e-5
    )  # so pCTR must not count twice
    check_ranking(response, p, p["ctcvr"].astype(np.float64), list(body["candidates"]))


def test_a_generated_request_ranks(client, model, exported, data):
    base, version_dir = exported
    body = json.loads(
        json.dumps(example_request(base / "ple", candidates=6, context=CONTEXT))
    )  # as `--request`
    assert set(body) == {"context", "candidates"} and sorted(body["context"]) == sorted(CONTEXT)
    assert isinstance(body["context"]["segment"], str) and isinstance(
        body["candidates"]["c0"]["x9"], float
    )
    response = client.rank("ple", body["context"], body["candidates"])
    assert sorted(c.id for c in response.candidates) == [f"c{i}" for i in range(6)]
    assert all(np.isfinite(c.score) for c in response.candidates)
    features = helpers.rows(data, 3, offset=7)  # real rows: the candidates carry their values
    body = example_request(version_dir, candidates=3, rows=features)
    assert body["context"] == {} and body["candidates"]["c1"]["x9"] == pytest.approx(
        float(features["x9"][1])
    )
    p = helpers.keras_predict(model, features)
    check_ranking(
        client.rank("ple", {}, body["candidates"]),
        p,
        p["click"].astype(np.float64) * p["finish"],
        list(body["candidates"]),
    )


class CountingStub:
    def __init__(self, stub):
        self.stub, self.predicts = stub, []

    def Predict(self, request, timeout=None):
        self.predicts.append(request)
        return self.stub.Predict(request, timeout=timeout)

    def GetModelMetadata(self, request, timeout=None):
        return self.stub.GetModelMetadata(request, timeout=timeout)


def test_one_predict_per_request_with_broadcast_context(prediction_server, query):
    context, candidates, _ = query
    stub = CountingStub(
        prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(prediction_server.address)
        )
    )
    servicer = RankingServicer(stub, ModelInfoCache(stub))
    for _ in range(2):
        servicer.rank(rank_request("ple", context, candidates, facet_group="engaged"))
    assert len(stub.predicts) == 2
    request = stub.predicts[0]
    assert request.model_spec.version.value == 1 and list(request.output_filter) == [
        "finish",
        "watch_time",
    ]
    assert [d.size for d in request.inputs["x0"].tensor_shape.dim] == [N]
    assert (
        len(request.inputs["x0"].tensor_content) == 4 * N
    )  # every row sent: a server never splats
    assert [d.size for d in request.inputs["x9"].tensor_shape.dim] == [N]


def test_candidate_columns_rank_like_rows(client, model, query):
    context, candidates, batch = query
    ids = list(candidates)
    columns = {k: np.asarray([candidates[i][k] for i in ids]) for k in candidates[ids[0]]}
    fusion = {
        "weights": {"finish": 0.5},
        "length_feature": "video_len",
        "length_transform": "sigmoid",
    }
    response = client.rank("ple", context, columns=columns, ids=ids, fusion=fusion)
    p = {k: v.astype(np.float64) for k, v in helpers.keras_predict(model, batch).items()}
    fused = p["click"] * p["finish"] ** 0.5 / (1 + np.exp(-batch["video_len"].astype(np.float64)))
    check_ranking(response, p, fused, ids)


def test_rank_follows_a_new_version_with_zero_failures(tmp_path, exported, query):
    """The ranking service's cached version is unloaded under it: it looks again, nobody fails."""
    import shutil
    import threading
    import time

    from tfmtl.serving import ModelManager, PredictionServer, RankingServer

    context, candidates, _ = query
    shutil.copytree(exported[1], tmp_path / "ple" / "1")
    manager = ModelManager(tmp_path / "ple", "ple", poll_seconds=0.1, warmup=False)
    predictor = PredictionServer({"ple": manager}, port=0).start()
    ranker = RankingServer(predictor.address, port=0, info_ttl_seconds=3600).start()
    versions, failures, stop = [], [], threading.Event()

    def loop():
        with RankingClient(ranker.address) as c:
            request = rank_request("ple", context, candidates)
            while not stop.is_set():
                try:
                    versions.append(c.stub.Rank(request, timeout=30).model_version)
                except grpc.RpcError as e:  # pragma: no cover - reported below
                    failures.append(f"{e.code()}: {e.details()}")

    threads = [threading.Thread(target=loop) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(versions) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        helpers.copy_version(tmp_path, 1, 2)
        while (
            not versions or versions[-1] != 2 or versions.count(2) < 10
        ) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
        ranker.stop(0)
        predictor.stop(0)
    assert failures == []
    assert versions[0] == 1 and versions.count(2) >= 10
