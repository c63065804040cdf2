"""Serving fixtures: one tiny exported PLE per session, real servers on 127.0.0.1:0."""

from __future__ import annotations

import numpy as np
import pytest

from tests.serving import helpers


@pytest.fixture(scope="session")
def data():
    return helpers.demo_data()


@pytest.fixture(scope="session")
def model(data):
    return helpers.tiny_model(
        data, metadata={"facet_groups": {"engaged": ["finish", "watch_time"]}}
    )


@pytest.fixture(scope="session")
def exported(tmp_path_factory, model):
    """`(base, version_dir)`: version 1 of `ple`, default fusion PLE eq 1 over click and finish."""
    base = tmp_path_factory.mktemp("models")
    return base, helpers.export(model, base, version=1)


@pytest.fixture(scope="session")
def prediction_server(exported):
    from tfmtl.serving import serve

    base, _ = exported
    server = serve(base / helpers.MODEL, helpers.MODEL, port=0, poll_seconds=0)
    yield server
    server.stop(grace=0)


@pytest.fixture(scope="session")
def ranking_server(prediction_server):
    from tfmtl.serving import RankingServer

    server = RankingServer(prediction_server.address, port=0).start()
    yield server
    server.stop(grace=0)


@pytest.fixture(scope="module")
def stubs(prediction_server, ranking_server):
    """Stubs of both session servers (`tests.serving.wire`), for the hostile and fuzz suites."""
    from tests.serving import wire

    s = wire.Stubs(prediction_server.address, ranking_server.address)
    yield s
    s.close()


@pytest.fixture(scope="module")
def requests(data):
    """Good Predict and Rank requests on the demo data (`tests.serving.wire.Requests`)."""
    from tests.serving import wire

    return wire.Requests(data)


@pytest.fixture(scope="module")
def client(ranking_server):
    """A RankingClient of the session ranking server."""
    from tfmtl.serving import RankingClient

    with RankingClient(ranking_server.address) as c:
        yield c


@pytest.fixture(scope="module")
def query(data):
    """(context, candidates by id, the broadcast batch model.predict sees)."""
    features = helpers.rows(data, helpers.RANK_CANDIDATES, offset=20)
    context = {k: features[k][0] for k in helpers.RANK_CONTEXT}
    candidates = {
        f"item{i}": {k: v[i] for k, v in features.items() if k not in helpers.RANK_CONTEXT}
        for i in range(helpers.RANK_CANDIDATES)
    }
    batch = {
        k: (np.repeat(v[:1], helpers.RANK_CANDIDATES) if k in helpers.RANK_CONTEXT else v)
        for k, v in features.items()
    }
    return context, candidates, batch
