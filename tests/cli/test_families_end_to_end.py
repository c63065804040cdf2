"""Each family through the front door: config -> `tfmtl train` -> `export` -> served -> rank.

Real servers on loopback: the embedded PredictionService over the export and the ranking
service in front of it; the ranked task scores must equal the Keras model's heads.
"""

import json

import keras
import numpy as np
import pytest

from tfmtl.cli import main
from tfmtl.cli.errors import load_keras_model

MMOE = {"family": "mmoe", "num_experts": 2, "expert_units": [8]}
FAMILIES = {
    "ple": (
        "data: {dataset: synthetic, rows: 600}",
        {
            "family": "ple",
            "num_task_experts": 1,
            "num_shared_experts": 1,
            "expert_units": [[8], [8]],
        },
    ),
    "hmtl": (
        "data: {dataset: short_video, rows: 1500}",
        {"family": "hmtl", "switcher": MMOE, "branch_units": [8]},
    ),
    "mfh": (
        "data: {dataset: short_video, rows: 1500}",
        {"family": "mfh", "switcher": MMOE, "branch_units": [8]},
    ),
    "dml": ("data: {dataset: synthetic, rows: 600}", {"family": "dml", "backbone": MMOE}),
    "dtrn": (
        "data: {dataset: movielens_seq}",
        {"family": "dtrn", "backbone": MMOE, "trm_units": 8, "hyper_units": 8},
    ),
    "esmm": ("data: {dataset: funnel, rows: 2000}", {"family": "esmm"}),
    "aitm": (
        "data: {dataset: funnel, rows: 2000}\ntasks: [{name: ctr}, {name: ctcvr}]",
        {"family": "aitm", "bottom_units": [8]},
    ),
    "escm2": ("data: {dataset: funnel, rows: 2000}", {"family": "escm2", "imputation_units": [8]}),
    "stem": ("data: {dataset: synthetic, rows: 600}", {"family": "stem", "expert_units": [8]}),
    "pepnet": ("data: {dataset: funnel, rows: 2000}", {"family": "pepnet", "gate_units": 8}),
}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.mark.parametrize("family", FAMILIES)
def test_family_trains_exports_serves_and_ranks_like_keras(family, base, tmp_path, capsys):
    from tfmtl.serving import RankingServer, serve

    data, model = FAMILIES[family]
    config = tmp_path / "run.yaml"
    config.write_text(
        f"{data}\nmodel: {json.dumps(model)}\ntraining: {{epochs: 1, batch_size: 256}}\n"
    )
    run = tmp_path / "run"
    assert main(["train", "--config", str(config), "--output", str(run)]) == 0
    assert main(["export", "--model", str(run), "--base", str(base), "--name", family]) == 0
    capsys.readouterr()
    prediction = serve(base / family, family, port=0, poll_seconds=0)
    ranking = RankingServer(prediction.address, port=0).start()
    try:
        assert main(["inspect", str(base / family), "--request", "--candidates", "4"]) == 0
        request = json.loads(capsys.readouterr().out)
        (tmp_path / "q.json").write_text(json.dumps(request))
        assert (
            main(
                [
                    "rank",
                    "--ranking_service",
                    ranking.address,
                    "--model_name",
                    family,
                    "--request",
                    f"@{tmp_path / 'q.json'}",
                    "--json",
                ]
            )
            == 0
        )
        response = json.loads(capsys.readouterr().out)
    finally:
        ranking.stop(grace=0)
        prediction.stop(grace=0)
    assert len(response["candidates"]) == 4
    keras_model = load_keras_model(run / "model.keras")
    spec = keras_model.feature_spec
    for scored in response["candidates"]:
        row = {**request.get("context", {}), **request["candidates"][scored["id"]]}
        x = {
            n: keras.ops.convert_to_tensor(
                np.asarray(
                    [row[n]],
                    dtype=spec.input_dtype(n) if spec.input_dtype(n) != "string" else object,
                )
            )
            for n in spec.names
        }
        heads = keras_model(x)
        assert scored["task_scores"], scored
        for task, score in scored["task_scores"].items():
            np.testing.assert_allclose(
                score, float(np.asarray(heads[task]).reshape(-1)[0]), rtol=1e-4, atol=1e-5
            )
