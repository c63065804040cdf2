"""Good Predict and Rank requests, and the checks every refusal must pass: shared by the hostile
and fuzz suites (tests/serving/test_hostile.py, test_fuzz.py)."""

from __future__ import annotations

import re

import grpc
import numpy as np
from tensorflow_serving.apis import model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc

from tests.serving import helpers
from tfmtl.serving import rank_request
from tfmtl.serving.protos import ranking_pb2_grpc
from tfmtl.serving.tensors import to_tensor_proto

CONTEXT = ("x0", "x1", "x2", "segment")  # request-level features; the others are the candidates'
CANDIDATES = 6
MAX_MESSAGE = 2_100
# What a refusal must never show a client: server paths, Python internals.
LEAK = re.compile(r"/tmp|/work|/home|site-packages|Traceback|File \"|\b\w*(Error|Exception)\b")


def predict_request(features: dict, name: str = helpers.MODEL, signature: str = "serving_default"):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    for key, value in features.items():
        request.inputs[key].CopyFrom(to_tensor_proto(np.asarray(value)))
    return request


class Requests:
    """Builders of good requests over `data`: `predict(**changes)` (a value None drops the input),
    `rank(**kwargs)` (`rank_request` over fixed context and candidates), `columns(**changes)`."""

    def __init__(self, data):
        self.features = helpers.rows(data, 3)
        rows = helpers.rows(data, CANDIDATES, offset=20)
        self.context = {k: rows[k][0] for k in CONTEXT}
        self.ids = [f"item{i}" for i in range(CANDIDATES)]
        self.column_values = {k: v for k, v in rows.items() if k not in CONTEXT}
        self.candidates = {
            cid: {k: v[i] for k, v in self.column_values.items()} for i, cid in enumerate(self.ids)
        }

    def predict(self, signature: str = "serving_default", **changes):
        features = {k: v for k, v in {**self.features, **changes}.items() if v is not None}
        return predict_request(features, signature=signature)

    def rank(self, context: dict | None = None, candidates=None, **kwargs):
        return rank_request(
            helpers.MODEL,
            self.context if context is None else context,
            self.candidates if candidates is None else candidates,
            **kwargs,
        )

    def columns(self, ids=None, **changes):
        columns = {k: v for k, v in {**self.column_values, **changes}.items() if v is not None}
        return rank_request(
            helpers.MODEL, self.context, columns=columns, ids=self.ids if ids is None else ids
        )


class Stubs:
    """One channel per server, and `call(method, request, timeout)` over them by method name."""

    def __init__(self, prediction_address: str, ranking_address: str):
        self.channels = [grpc.insecure_channel(a) for a in (prediction_address, ranking_address)]
        predict = prediction_service_pb2_grpc.PredictionServiceStub(self.channels[0])
        models = model_service_pb2_grpc.ModelServiceStub(self.channels[0])
        rank = ranking_pb2_grpc.RankingServiceStub(self.channels[1])
        self.methods = {
            "Predict": predict.Predict,
            "GetModelMetadata": predict.GetModelMetadata,
            "Classify": predict.Classify,
            "Regress": predict.Regress,
            "MultiInference": predict.MultiInference,
            "GetModelStatus": models.GetModelStatus,
            "Rank": rank.Rank,
        }

    def call(self, method: str, request, timeout: float = 30.0):
        return self.methods[method](request, timeout=timeout)

    def close(self) -> None:
        for channel in self.channels:
            channel.close()


def check_refusal(error: grpc.RpcError, words=()) -> None:
    """A refusal fit for a client: bounded, names `words`, shows no path or Python internals."""
    details = error.details() or ""
    assert len(details) < MAX_MESSAGE, (len(details), details[:200])
    assert not LEAK.search(details), details
    for word in words:
        assert word in details, (word, details)


def check_good(stubs: Stubs, requests: Requests) -> None:
    """Both servers still answer a good request, with every head and every candidate."""
    response = stubs.call("Predict", requests.predict())
    assert sorted(response.outputs) == ["click", "finish", "watch_time"]
    ranked = stubs.call("Rank", requests.rank())
    assert sorted(c.id for c in ranked.candidates) == sorted(requests.ids)
