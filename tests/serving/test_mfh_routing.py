"""An exported MFH model behind the real servers: facet routing returns exactly the group's heads."""

from __future__ import annotations

import numpy as np
import pytest

from tfmtl.data.short_video import load_short_video
from tfmtl.models.tree import build_mfh
from tfmtl.training import set_seed

USER = ("user_id", "activity_group", "u0", "u1", "u2", "u3", "u4", "u5")  # the request's context
N = 6


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from tfmtl.export import export_saved_model
    from tfmtl.serving import RankingClient, RankingServer, serve

    data = load_short_video(rows=300)
    set_seed(0)
    model = build_mfh(data.spec, data.tasks, ["behaviour", "group"], "mmoe", {"num_experts": 2, "expert_units": [4]},
                      branch_units=[4], task_features={t.name: ["user_id"] for t in data.tasks if ".new" not in t.name})
    base = tmp_path_factory.mktemp("models")
    export_saved_model(model, base, "mfh", version=1)
    predictions = serve(base / "mfh", "mfh", port=0, poll_seconds=0)
    ranking = RankingServer(predictions.address, port=0).start()
    with RankingClient(ranking.address) as client:
        yield data, model, client
    ranking.stop(grace=0)
    predictions.stop(grace=0)


@pytest.mark.parametrize("group", ["new", "low", "high"])
def test_rank_uses_exactly_the_users_group_heads(served, group):
    data, model, client = served
    test = data["test"]
    row = int(np.flatnonzero(test.extras["activity_group"] == group)[0])
    context = {k: test.features[k][row] for k in USER}
    columns = {k: v[:N] for k, v in test.features.items() if k not in USER}
    response = client.rank("mfh", context, columns=columns, facet_group=group)
    heads = model.metadata["facet_groups"][group]
    assert heads == [f"finish.{group}", f"skip.{group}", f"cmpl.{group}"]
    batch = {k: (np.repeat(np.asarray(test.features[k][row:row + 1]), N) if k in USER else v)
             for k, v in {**test.features, **columns}.items()}
    want = {k: np.asarray(v).reshape(-1) for k, v in model.predict(batch, verbose=0).items()}
    for c in response.candidates:
        assert sorted(c.task_scores) == sorted(heads)  # only the group's heads are served
        for head in heads:
            assert c.task_scores[head] == pytest.approx(want[head][c.request_index], abs=1e-5)
    fused = want[f"finish.{group}"].astype(np.float64) * want[f"skip.{group}"]  # default: product of binary heads
    assert [c.request_index for c in response.candidates] == list(np.argsort(-fused, kind="stable"))
