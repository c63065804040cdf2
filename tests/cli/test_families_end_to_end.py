"""Each family through the front door: config -> `tfmtl train` -> `export` -> served -> rank.

Real servers on loopback: the embedded PredictionService over the export and the ranking
service in front of it; the ranked task scores must equal the Keras model's heads.
"""

import json

import pytest

from tests.cli.served import assert_serves_like_keras
from tfmtl.cli import main

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
    data, model = FAMILIES[family]
    config = tmp_path / "run.yaml"
    config.write_text(
        f"{data}\nmodel: {json.dumps(model)}\ntraining: {{epochs: 1, batch_size: 256}}\n"
    )
    run = tmp_path / "run"
    assert main(["train", "--config", str(config), "--output", str(run)]) == 0
    assert_serves_like_keras(run, base / family, tmp_path, capsys)
