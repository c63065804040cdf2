"""An exported MFH model behind the real servers: facet routing returns and fuses exactly the
group's heads.
"""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest
from google.protobuf import any_pb2, wrappers_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from tfmtl.data.short_video import load_short_video
from tfmtl.export.examples import example_request
from tfmtl.models.tree import build_mfh
from tfmtl.serving import rank_request
from tfmtl.serving.model_info import ModelInfoCache
from tfmtl.serving.ranking_service import RankingServicer
from tfmtl.training import set_seed

USER = ("user_id", "activity_group", "u0", "u1", "u2", "u3", "u4", "u5")  # the request's context
N = 6


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from tfmtl.export import export_saved_model
    from tfmtl.serving import RankingClient, RankingServer, serve

    data = load_short_video(rows=300)
    set_seed(0)
    model = build_mfh(
        data.spec,
        data.tasks,
        ["behaviour", "group"],
        ("mmoe", {"num_experts": 2, "expert_units": [4]}),
        branch_units=[4],
        options={
            "task_features": {t.name: ["user_id"] for t in data.tasks if ".new" not in t.name}
        },
    )
    base = tmp_path_factory.mktemp("models")
    export_saved_model(model, base, "mfh", version=1)
    predictions = serve(base / "mfh", "mfh", port=0, poll_seconds=0)
    ranking = RankingServer(predictions.address, port=0).start()
    with RankingClient(ranking.address) as client:
        yield data, model, client, base / "mfh", predictions.address
    ranking.stop(grace=0)
    predictions.stop(grace=0)


@pytest.mark.parametrize("group", ["new", "low", "high"])
def test_rank_uses_exactly_the_users_group_heads(served, group):
    data, model, client, _, _ = served
    test = data["test"]
    row = int(np.flatnonzero(test.extras["activity_group"] == group)[0])
    context = {k: test.features[k][row] for k in USER}
    columns = {k: v[:N] for k, v in test.features.items() if k not in USER}
    response = client.rank("mfh", context, columns=columns, facet_group=group)
    heads = model.metadata["facet_groups"][group]
    assert heads == [f"finish.{group}", f"skip.{group}", f"cmpl.{group}"]
    batch = {
        k: (np.repeat(np.asarray(test.features[k][row : row + 1]), N) if k in USER else v)
        for k, v in {**test.features, **columns}.items()
    }
    want = {k: np.asarray(v).reshape(-1) for k, v in model.predict(batch, verbose=0).items()}
    for c in response.candidates:
        assert sorted(c.task_scores) == sorted(heads)  # only the group's heads are served
        for head in heads:
            assert c.task_scores[head] == pytest.approx(want[head][c.request_index], abs=1e-5)
    fused = (
        want[f"finish.{group}"].astype(np.float64) * want[f"skip.{group}"]
    )  # default: product of binary heads
    assert [c.request_index for c in response.candidates] == list(np.argsort(-fused, kind="stable"))
    assert response.facet_group == group  # the default fusion, restricted to the group's heads
    assert dict(response.fusion.weights) == {
        f"finish.{group}": 1.0,
        f"skip.{group}": 1.0,
        f"cmpl.{group}": 0.0,
    }


def _query(data):
    test = data["test"]
    return {k: test.features[k][0] for k in USER}, {
        k: v[:N] for k, v in test.features.items() if k not in USER
    }


def test_a_request_without_a_group_is_refused_naming_the_groups(served):
    data, _, client, _, _ = served
    context, columns = _query(data)
    with pytest.raises(grpc.RpcError) as e:
        client.rank("mfh", context, columns=columns)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (
        "facet_group is empty" in e.value.details()
        and "['high', 'low', 'new']" in e.value.details()
    )
    assert (
        len(client.rank("mfh", context, columns=columns, facet_group="low").candidates) == N
    )  # still serving


class DefaultGroupStub:
    """The served export's tfmtl.json as if exported with `model.metadata["default_facet_group"] =
    group`.
    """

    def __init__(self, stub, group: str):
        self.stub, self.group = stub, group

    def Predict(self, request, timeout=None):
        return self.stub.Predict(request, timeout=timeout)

    def GetModelMetadata(self, request, timeout=None):
        response = self.stub.GetModelMetadata(request, timeout=timeout)
        text = wrappers_pb2.StringValue()
        response.metadata["tfmtl"].Unpack(text)
        packed = any_pb2.Any()
        packed.Pack(
            wrappers_pb2.StringValue(
                value=json.dumps({**json.loads(text.value), "default_facet_group": self.group})
            )
        )
        response.metadata["tfmtl"].CopyFrom(packed)
        return response


def test_a_default_group_answers_requests_without_one(served):
    data, model, _, _, address = served
    context, columns = _query(data)
    stub = DefaultGroupStub(
        prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(address)), "low"
    )
    response = RankingServicer(stub, ModelInfoCache(stub)).rank(
        rank_request("mfh", context, columns=columns)
    )
    assert response.facet_group == "low"
    assert {t for c in response.candidates for t in c.task_scores} == set(
        model.metadata["facet_groups"]["low"]
    )


def test_a_generated_request_names_a_group_and_ranks(served):
    _, model, client, export, _ = served
    body = json.loads(json.dumps(example_request(export, candidates=4, context=USER)))
    assert body["facet_group"] in model.metadata["facet_groups"]
    response = client.rank(
        "mfh", body["context"], body["candidates"], facet_group=body["facet_group"]
    )
    assert sorted(c.id for c in response.candidates) == ["c0", "c1", "c2", "c3"]
    assert all(np.isfinite(c.score) for c in response.candidates)
