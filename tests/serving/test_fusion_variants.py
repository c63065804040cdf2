"""Fusion variants: named in the request or split by a stable hash of a traffic key, end to end."""

from __future__ import annotations

import hashlib
import re

import grpc
import numpy as np
import pytest

from tests.serving import helpers
from tfmtl import fusion_variants
from tfmtl.export import ExportError
from tfmtl.serving import RankingClient, RankingServer, serve

VARIANTS = {
    "finish_heavy": {"weights": {"finish": 3.0}},
    "click_only": {"weights": {"finish": 0.0}},
}
TRAFFIC = {"default": 0.5, "finish_heavy": 0.3, "click_only": 0.2}


@pytest.fixture(scope="module")
def ranker(tmp_path_factory, model):
    base = tmp_path_factory.mktemp("variants")
    helpers.export(model, base, version=1, fusion={"variants": VARIANTS, "traffic": TRAFFIC})
    prediction = serve(base / helpers.MODEL, helpers.MODEL, port=0, poll_seconds=0)
    ranking = RankingServer(prediction.address, port=0).start()
    with RankingClient(ranking.address) as client:
        yield client, ranking
    ranking.stop(grace=0)
    prediction.stop(grace=0)


@pytest.fixture(scope="module")
def query(data, model):
    features = helpers.rows(data, 6)
    context = {k: features[k][0] for k in ("x0", "segment")}
    candidates = {
        f"c{i}": {k: v[i] for k, v in features.items() if k not in context} for i in range(6)
    }
    batch = {k: (np.repeat(v[:1], 6) if k in context else v) for k, v in features.items()}
    p = {k: v.astype(np.float64) for k, v in helpers.keras_predict(model, batch).items()}
    return context, candidates, p


@pytest.mark.parametrize(
    "variant, finish_weight", [("default", 1.0), ("finish_heavy", 3.0), ("click_only", 0.0)]
)
def test_a_named_variant_scores_with_its_weights(ranker, query, variant, finish_weight):
    client, _ = ranker
    context, candidates, p = query
    response = client.rank(helpers.MODEL, context, candidates, fusion_variant=variant)
    assert response.fusion_variant == variant and response.fusion.weights["finish"] == finish_weight
    fused = p["click"] * p["finish"] ** finish_weight
    ids = list(candidates)
    np.testing.assert_allclose(
        [c.score for c in response.candidates],
        [fused[ids.index(c.id)] for c in response.candidates],
        rtol=1e-5,
    )


def test_the_request_override_applies_on_top_of_the_variant(ranker, query):
    client, _ = ranker
    context, candidates, _ = query
    response = client.rank(
        helpers.MODEL,
        context,
        candidates,
        fusion_variant="finish_heavy",
        fusion={"weights": {"click": 2.0}},
    )
    assert dict(response.fusion.weights) == {"click": 2.0, "finish": 3.0, "watch_time": 0.0}


def test_traffic_keys_split_by_a_stable_hash_near_the_shares(ranker, query):
    client, ranking = ranker
    context, candidates, _ = query
    keys = [f"user{i}" for i in range(300)]
    before = ranked_with(ranking, "finish_heavy")
    got = [
        client.rank(helpers.MODEL, context, candidates, traffic_key=k).fusion_variant for k in keys
    ]
    assert got == [
        fusion_variants.pick(TRAFFIC, helpers.MODEL, k) for k in keys
    ]  # same key, same variant
    for name, share in TRAFFIC.items():
        assert abs(got.count(name) / len(keys) - share) < 0.08, (name, got.count(name))
    assert (
        client.rank(helpers.MODEL, context, candidates).fusion_variant == "default"
    )  # no key: default
    assert ranked_with(ranking, "finish_heavy") - before == got.count(
        "finish_heavy"
    )  # metrics say which


def ranked_with(ranking, variant: str) -> float:
    """tfmtl_requests_total of answered Rank requests scored by `variant`."""
    return sum(
        s.value
        for m in ranking.metrics.registry.collect()
        for s in m.samples
        if s.name == "tfmtl_requests_total"
        and s.labels.get("fusion_variant") == variant
        and s.labels["method"] == "Rank"
        and s.labels["code"] == "OK"
    )


def test_pick_is_blake2b_of_model_and_key_over_the_sorted_shares():
    digest = hashlib.blake2b(b"ple:user7", digest_size=8).digest()
    point = int.from_bytes(digest, "big") / 2.0**64
    names = sorted(TRAFFIC)  # click_only 0.2, default 0.5, finish_heavy 0.3
    edges = np.cumsum([TRAFFIC[n] for n in names])
    assert (
        fusion_variants.pick(TRAFFIC, "ple", "user7")
        == names[int(np.searchsorted(edges, point, side="right"))]
    )


def test_unknown_variant_is_not_found_and_bad_exports_are_refused(ranker, query, model, tmp_path):
    client, _ = ranker
    context, candidates, _ = query
    with pytest.raises(grpc.RpcError) as e:
        client.rank(helpers.MODEL, context, candidates, fusion_variant="nope")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert "fusion_variant 'nope'" in e.value.details() and "finish_heavy" in e.value.details()
    for fusion, words in (
        ({"variants": VARIANTS, "traffic": {"other": 1.0}}, "fusion_traffic['other']"),
        ({"variants": {"x": {"weights": {"nope": 1.0}}}}, "fusion_variants['x']"),
        ({"variants": {"default": {}}}, "other than 'default'"),
        ({"traffic": {"default": -1}}, "fusion_traffic['default']"),
    ):
        with pytest.raises(ExportError, match=re.escape(words)):
            helpers.export(model, tmp_path, fusion=fusion)
