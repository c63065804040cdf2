"""Malformed Rank requests: each named with its status and field, and the server keeps serving."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from tests.serving import helpers
from tests.serving.helpers import RANK_CANDIDATES as N
from tests.serving.helpers import check_ranking
from tfmtl.serving import rank_request

INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND


def _makers(context, candidates):
    """`req(**kw)`: a request maker with rank_request arguments; `edit(fn)`: one edited by fn."""

    def req(**kw):
        return lambda: rank_request("ple", context, candidates, **kw)

    def edit(fn):
        def make():
            r = rank_request("ple", context, candidates)
            fn(r)
            return r

        return make

    return req, edit


def _bad_requests(context, candidates):
    """(case, request maker, status, words the message must contain) for every malformed field."""
    return (
        _bad_fields(context, candidates)
        + _bad_features(context, candidates)
        + _bad_routing(context, candidates)
    )


def _bad_fields(context, candidates):
    """The request's own fields: model, version, candidates, top_k, ids."""
    req, edit = _makers(context, candidates)
    return [
        ("no model", edit(lambda r: setattr(r, "model_name", "")), INVALID, ["model_name"]),
        ("unknown model", edit(lambda r: setattr(r, "model_name", "nope")), NOT_FOUND, ["'nope'"]),
        ("unknown version", req(version=9), NOT_FOUND, ["version 9"]),
        (
            "no candidates",
            lambda: rank_request("ple", context, {}),
            INVALID,
            ["candidates is empty"],
        ),
        ("negative top_k", req(top_k=-1), INVALID, ["top_k"]),
        (
            "duplicate ids",
            edit(lambda r: setattr(r.candidates[1], "id", r.candidates[0].id)),
            INVALID,
            ["'item0'"],
        ),
    ]


def _bad_features(context, candidates):
    """Features missing, unknown, given twice, or of the wrong kind."""
    _, edit = _makers(context, candidates)
    return [
        (
            "missing feature",
            lambda: rank_request(
                "ple", {k: v for k, v in context.items() if k != "x1"}, candidates
            ),
            INVALID,
            ["'x1'", "missing"],
        ),
        (
            "unknown context feature",
            lambda: rank_request("ple", {**context, "age": 3.0}, candidates),
            INVALID,
            ["context_features['age']"],
        ),
        (
            "feature twice",
            lambda: rank_request("ple", {**context, "x9": 1.0}, candidates),
            INVALID,
            ["'x9'", "once"],
        ),
        (
            "candidates differ",
            edit(lambda r: r.candidates[3].features.pop("x9")),
            INVALID,
            ["candidates[3]", "x9"],
        ),
        (
            "string for dense",
            edit(lambda r: setattr(r.candidates[2].features["x9"], "string_value", "big")),
            INVALID,
            ["candidates[2] ('item2') feature 'x9'", "string_value"],
        ),
        (
            "float for string",
            lambda: rank_request("ple", {**context, "segment": 1.5}, candidates),
            INVALID,
            ["context_features['segment']", "float_value"],
        ),
        (
            "list for scalar",
            lambda: rank_request("ple", {**context, "x0": [1.0, 2.0]}, candidates),
            INVALID,
            ["context_features['x0']", "float_list"],
        ),
    ]


def _bad_routing(context, candidates):
    """Facet groups, fusion overrides and signatures the model does not have."""
    req, _ = _makers(context, candidates)
    return [
        ("unknown facet group", req(facet_group="whales"), NOT_FOUND, ["facet_group 'whales'"]),
        (
            "weight of unknown task",
            req(fusion={"weights": {"like": 1.0}}),
            INVALID,
            ["fusion.weights['like']"],
        ),
        (
            "weight outside facet group",
            req(facet_group="engaged", fusion={"weights": {"click": 1.0}}),
            INVALID,
            ["fusion.weights['click']", "engaged"],
        ),
        (
            "non-finite weight",
            req(fusion={"weights": {"click": float("inf")}}),
            INVALID,
            ["fusion.weights['click']"],
        ),
        (
            "unknown length feature",
            req(fusion={"length_feature": "duration"}),
            INVALID,
            ["fusion.length_feature 'duration'"],
        ),
        ("unknown signature", req(signature_name="nope"), NOT_FOUND, ["'nope'"]),
    ]


def test_malformed_rank_requests_named_and_server_survives(ranking_server, client, model, query):
    context, candidates, batch = query
    cases = _bad_requests(context, candidates)
    assert len(cases) >= 15
    for case, make, code, words in cases:
        with pytest.raises(grpc.RpcError) as e:
            client.stub.Rank(make(), timeout=30.0)
        assert e.value.code() == code, (case, e.value.code(), e.value.details())
        for word in words:
            assert word in e.value.details(), (case, word, e.value.details())
    p = helpers.keras_predict(model, batch)
    check_ranking(
        client.rank("ple", context, candidates),
        p,
        p["click"].astype(np.float64) * p["finish"],
        list(candidates),
    )


def test_malformed_candidate_columns(client, query):
    context, candidates, _ = query
    ids = list(candidates)
    columns = {k: np.asarray([candidates[i][k] for i in ids]) for k in candidates[ids[0]]}
    cases = [
        (
            rank_request("ple", context, columns={**columns, "x9": columns["x9"][:-1]}, ids=ids),
            ["candidate_columns.features['x9']", f"{N - 1} values", f"{N} candidate ids"],
        ),
        (
            rank_request("ple", context, columns={**columns, "x10": np.array(["a"] * N)}, ids=ids),
            ["candidate_columns.features['x10']", "string_list"],
        ),
        (rank_request("ple", context, candidates, columns=columns, ids=ids), ["not both"]),
        (
            rank_request("ple", context, columns=columns, ids=["a"] * N),
            ["candidate_columns.ids[1] 'a'"],
        ),
    ]
    for request, words in cases:
        with pytest.raises(grpc.RpcError) as e:
            client.stub.Rank(request, timeout=30.0)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value.details()
        for word in words:
            assert word in e.value.details(), (word, e.value.details())
