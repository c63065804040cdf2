"""`tfmtl init` on raw files (no header, ', ' separators, '?' cells, text labels), then train."""

import json

import pytest
import yaml

from tests.data.test_run_data import raw_rows, write
from tfmtl.cli import main


def test_init_detects_the_file_layout_and_writes_a_config_that_trains(tmp_path, capsys):
    write(tmp_path / "adult.data.gz", raw_rows(1200, seed=1))
    write(tmp_path / "adult.test.gz", raw_rows(600, seed=2))
    (tmp_path / "names.txt").write_text("age\ncapital_gain\ncity\nincome\n")
    config_path = tmp_path / "run.yaml"
    assert (
        main(
            [
                "init",
                "--data",
                str(tmp_path / "adult.data.gz"),
                "--test",
                str(tmp_path / "adult.test.gz"),
                "--column-names",
                f"@{tmp_path / 'names.txt'}",
                "--task",
                "rich:label=income",
                "--model",
                "mmoe",
                "--output",
                str(config_path),
            ]
        )
        == 0
    )
    review = capsys.readouterr().err
    assert "capital_gain  dense:" in review and "log1p (heavy-tailed)" in review
    assert (
        "task rich: binary on column 'income', positive = ['>50K']" in review
    )  # the rarer of two values
    config = yaml.safe_load(config_path.read_text())
    assert (
        config["data"]["train"] == "adult.data.gz" and config["data"]["skip_initial_space"] is True
    )
    assert config["data"]["header"] is False and config["data"]["column_names"][1] == "capital_gain"
    assert [f["name"] for f in config["features"]] == ["age", "capital_gain", "city"]
    assert config["tasks"] == [
        {"name": "rich", "label": "income", "kind": "binary", "positive": [">50K"]}
    ]

    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--config",
                str(config_path),
                "--output",
                str(run),
                "--set",
                "training.epochs=2",
                "--set",
                "model.num_experts=2",
                "--set",
                "model.expert_units=[8]",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Epoch 2/2" in out and "val_loss" not in out  # no validation split here: test only
    assert sorted(p.name for p in run.iterdir()) == [
        "config.yaml",
        "history.json",
        "metrics.json",
        "model.keras",
    ]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["rich"]["count"] == 600 and metrics["test"]["rich"]["auc"] > 0.6
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["model"]["num_experts"] == 2 and resolved["features"][0]["name"] == "age"
    assert main(["evaluate", "--model", str(run), "--split", "test"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["test"]["rich"]["auc"] == pytest.approx(metrics["test"]["rich"]["auc"], abs=1e-6)


def test_init_with_a_header_and_a_numeric_label_prints_to_stdout(tmp_path, capsys):
    write(
        tmp_path / "shop.csv",
        [f"{i % 7},{'ab'[i % 2]},{i % 2}" for i in range(300)],
        header="price,city,click",
    )
    assert main(["init", "--data", str(tmp_path / "shop.csv"), "--task", "click"]) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["data"]["split"] == [0.8, 0.1, 0.1] and config["data"]["header"] is True
    assert config["tasks"][0] == {"name": "click", "label": "click", "kind": "binary"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--task", "rich:label=nope"], "--task rich: {data} has no column 'nope' (label=)"),
        (
            ["--task", "rich:label=city"],
            "--task rich: label column 'city' holds 3 text values; say which mean 1",
        ),
        (
            ["--task", "rich:colour=red"],
            "--task rich:colour=red: 'colour=red' is not key=value with key in label",
        ),
        (["--task", "rich:label=income", "--drop", "zip"], "--drop zip: {data} has no such column"),
        (
            ["--task", "rich:label=income", "--model", "mmoee"],
            "model.family: unknown family 'mmoee'",
        ),
        (
            ["--task", "rich:label=income", "--column-names", "a,b"],
            "--column-names gives 2 names but",
        ),
    ],
)
def test_init_mistakes_are_one_line(tmp_path, capsys, argv, message):
    data = write(tmp_path / "raw.csv", raw_rows(100))
    assert (
        main(["init", "--data", str(data), "--column-names", "age,gains,city,income", *argv]) == 2
    )
    err = capsys.readouterr().err
    assert message.format(data=data) in err and err.count("\n") == 1


def test_help_is_fast_and_imports_no_tensorflow():
    import subprocess
    import sys
    import time

    start = time.time()
    code = (
        "import sys; from tfmtl.cli import build_parser; build_parser(); "
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert (
        time.time() - start < 5
    )  # the process, interpreter start-up included (help alone is well under 1 s)
    version = subprocess.run(
        [sys.executable, "-m", "tfmtl.cli", "--version"], capture_output=True, text=True
    )
    assert version.stdout.startswith("tfmtl ")
