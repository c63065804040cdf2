"""`tfmtl fusion-search` end to end: train -> export -> search -> new version -> served by variant
name.
"""

import csv
import json

import pytest

from tests.cli.served import rank_json, ranking_service
from tfmtl.cli import main

NAME = "ranker"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A one-epoch MMoE on 600 demo rows, exported as version 1 of BASE/ranker."""
    root = tmp_path_factory.mktemp("search")
    run, base = root / "run", root / "models"
    assert (
        main(
            [
                "train",
                "--model",
                "mmoe",
                "--dataset",
                "demo",
                "--rows",
                "600",
                "--epochs",
                "1",
                "--batch-size",
                "256",
                "--output",
                str(run),
                "--hparams",
                '{"num_experts": 2, "expert_units": [8]}',
            ]
        )
        == 0
    )
    assert main(["export", "--model", str(run), "--base", str(base), "--name", NAME]) == 0
    return run, base


def test_search_writes_a_new_version_that_serves_the_variant(exported, tmp_path, capsys):
    run, base = exported
    old = (base / NAME / "1" / "assets.extra" / "tfmtl.json").read_text()
    capsys.readouterr()
    assert (
        main(
            [
                "fusion-search",
                "--model",
                str(run),
                "--export",
                str(base / NAME),
                "--objective",
                "auc",
                "--query_column",
                "segment",
                "--task_weights",
                "click=1,finish=0.5",
                "--tasks",
                "click,finish",
                "--constraint",
                "click_auc>=-0.01",
                "--trials",
                "10",
                "--variant_name",
                "searched",
                "--traffic",
                "searched=0.1,default=0.9",
                "--table",
                str(tmp_path / "trials.csv"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "[tfmtl] default  auc per segment" in out and "click_auc" in out and "fixed to 1" in out
    assert (base / NAME / "1" / "assets.extra" / "tfmtl.json").read_text() == old  # never modified
    doc = json.loads((base / NAME / "2" / "assets.extra" / "tfmtl.json").read_text())
    assert doc["model"]["version"] == 2 and doc["fusion"] == json.loads(old)["fusion"]
    searched = doc["fusion_variants"]["searched"]
    assert searched["weights"]["click"] == 1.0 and searched["weights"]["watch_time"] == 0.0
    assert doc["fusion_traffic"] == {"searched": 0.1, "default": 0.9}
    assert sorted(p.name for p in (base / NAME).iterdir()) == ["1", "2"]  # no staging folder left
    with (tmp_path / "trials.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 10

    with ranking_service(base / NAME) as ranking:
        example = ("--example", str(base / NAME))
        response = rank_json(ranking, NAME, capsys, *example, "--fusion_variant", "searched")
        keyed = rank_json(ranking, NAME, capsys, *example, "--traffic_key", "user-1")
    assert response["fusion_variant"] == "searched" and response["model_version"] == "2"
    assert response["fusion"]["weights"]["finish"] == pytest.approx(
        searched["weights"]["finish"], rel=1e-6
    )
    assert keyed["fusion_variant"] in ("searched", "default")


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--task_weights", "nope=1"], "task_weights names task 'nope', which has no 0/1 labels"),
        (
            ["--task_weights", "click"],
            "--task-weights must read NAME=NUMBER,... (e.g. ctr=1,cvr=0.5). Received: 'click'",
        ),
        (
            ["--query_column", "user_id"],
            "--query-column user_id: the split has no such column; it has: segment",
        ),
        (["--constraint", "click_auc>0"], "constraint must read METRIC>=DELTA"),
        (["--variant_name", "default"], "--variant-name must not be 'default'"),
        (["--traffic", "other=1"], "--traffic: fusion_traffic['other'] names no variant"),
        (["--split", "holdout"], "--split holdout: the data has no such split"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(exported, capsys, flags, message):
    run, base = exported
    before = sorted(p.name for p in (base / NAME).iterdir())
    assert (
        main(
            [
                "fusion-search",
                "--model",
                str(run),
                "--export",
                str(base / NAME / "1"),
                "--objective",
                "auc",
                "--trials",
                "2",
                *flags,
            ]
        )
        == 2
    )
    errors = [
        line for line in capsys.readouterr().err.splitlines() if not line.startswith("[tfmtl]")
    ]
    assert (
        len(errors) == 1
        and errors[0].startswith("tfmtl fusion-search: error: ")
        and message in errors[0]
    ), errors
    assert sorted(p.name for p in (base / NAME).iterdir()) == before
