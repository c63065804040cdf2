"""rank-server with --metadata_dir (as against TF Serving): tfmtl.json read from disk, names kept
inside.
"""

from __future__ import annotations

import grpc
import pytest

from tests.serving import helpers
from tfmtl.serving import RankingClient, RankingServer


@pytest.fixture(scope="module")
def disk_ranker(prediction_server, exported):
    base, _ = exported
    server = RankingServer(prediction_server.address, port=0, metadata_dir=base).start()
    with RankingClient(server.address) as client:
        yield client
    server.stop(grace=0)


def test_tfmtl_json_read_from_metadata_dir_ranks_like_the_served_one(disk_ranker, client_query):
    context, candidates = client_query
    response = disk_ranker.rank(helpers.MODEL, context, candidates)
    assert response.model_version == 1 and len(response.candidates) == len(candidates)
    assert sorted(response.candidates[0].task_scores) == ["click", "finish", "watch_time"]


@pytest.mark.parametrize(
    "name", ["../ple", "..", ".hidden", "ple/../../etc", "/etc/passwd", "a\\b", "c:x", "a\0b"]
)
def test_model_names_that_would_leave_metadata_dir_are_refused(disk_ranker, client_query, name):
    context, candidates = client_query
    with pytest.raises(grpc.RpcError) as e:
        disk_ranker.rank(name, context, candidates)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "model_name" in e.value.details() and "--metadata_dir" in e.value.details()
    assert disk_ranker.rank(helpers.MODEL, context, candidates).candidates  # still serving


@pytest.fixture(scope="module")
def client_query(data):
    features = helpers.rows(data, 4)
    context = {k: features[k][0] for k in ("x0", "segment")}
    candidates = {
        f"c{i}": {k: v[i] for k, v in features.items() if k not in context} for i in range(4)
    }
    return context, candidates
