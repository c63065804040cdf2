"""The `tfmtl` command end to end, in-process (fast) and as a real subprocess."""

import json
import subprocess
import sys

import pytest

from tfmtl.cli import main


def test_train_writes_model_metrics_history_and_evaluate_reads_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--model",
                "mmoe",
                "--dataset",
                "synthetic",
                "--rows",
                "600",
                "--epochs",
                "2",
                "--batch_size",
                "256",
                "--output",
                str(out),
                "--hparams",
                '{"num_experts": 2, "expert_units": [8]}',
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "config.yaml",
        "history.json",
        "metrics.json",
        "model.keras",
    ]
    assert not (tmp_path / "run.partial").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["hparams"]["num_experts"] == 2 and metrics["epochs_run"] == 2
    assert metrics["test"]["task_a"]["count"] == 120
    assert len(json.loads((out / "history.json").read_text())["loss"]) == 2
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(out / "model.keras"),
                "--dataset",
                "synthetic",
                "--rows",
                "600",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed["test"]["task_a"]["mse"] == pytest.approx(
        metrics["test"]["task_a"]["mse"], rel=1e-5
    )
    # the run's own config.yaml names its data: evaluate needs nothing else, in either flag spelling
    assert main(["evaluate", "--model", str(out), "--split", "validation"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["validation"]["task_a"]["mse"] == pytest.approx(
        metrics["validation"]["task_a"]["mse"], rel=1e-5
    )
    assert main(["evaluate", "--model", str(out), "--split", "holdout"]) == 2
    assert (
        "--split holdout: the data has no such split; it has: train, validation, test"
        in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--model", "moe", "--dataset", "synthetic"],
            "model.family: unknown family 'moe'; choose one of: adatt",
        ),
        (
            ["--model", "mmoe", "--dataset", "kdd"],
            "data.dataset: unknown dataset 'kdd'; choose one of:",
        ),
        (
            ["--model", "mmoe", "--dataset", "synthetic", "--hparams", "{num"],
            "--hparams is not valid JSON",
        ),
        (
            ["--model", "mmoe", "--dataset", "synthetic", "--hparams", '{"heads": 2}'],
            "model.heads: mmoe has no hyper-parameter 'heads'; it takes: expert_units, gate, "
            "num_experts",
        ),
        (
            ["--model", "mmoe", "--dataset", "census", "--data-dir", "/nonexistent"],
            "TFMTL_DATA_DIR",
        ),
        (
            ["--model", "mmoe", "--dataset", "movielens1m", "--data-dir", "/nonexistent"],
            "movielens-1m does not exist",
        ),
        (
            ["--model", "mmoe", "--dataset", "synthetic", "--data-dir", "/tmp"],
            "data.data_dir: dataset 'synthetic' does not take it",
        ),
        (
            ["--model", "mmoe", "--dataset", "census", "--rows", "300"],
            "data.rows: dataset 'census' does not take it",
        ),
        (
            ["--model", "mmoe", "--dataset", "movielens100k", "--protocol", "published"],
            "data.protocol: dataset 'movielens100k' does not take it",
        ),
        (
            ["--model", "mmoe", "--dataset", "synthetic", "--set", "training.epochs=0"],
            "training.epochs: a whole number >= 1; got 0",
        ),
        (
            ["--model", "mmoe", "--dataset", "synthetic", "--batch-size", "0"],
            "training.batch_size: a whole number >= 1; got 0",
        ),
        (
            ["--model", "mmoe", "--dataset", "shop.csv"],
            "--dataset shop.csv: not a built-in dataset; for your own files",
        ),
        (["--model", "esmm", "--dataset", "synthetic"], "model:"),
        (["--config", "nope.yaml"], "--config nope.yaml is not a file"),
        (
            ["--model", "mmoe", "--dataset", "synthetic", "--set", "training.optimiser=sgd"],
            "training.optimiser: unknown key; training takes: epochs",
        ),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, capsys, args, message):
    assert main(["train", *args, "--epochs", "1", "--output", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "r").exists() and not (tmp_path / "r.partial").exists()


def test_existing_output_is_never_overwritten(tmp_path, capsys):
    (tmp_path / "r").mkdir()
    assert (
        main(
            ["train", "--model", "mmoe", "--dataset", "synthetic", "--output", str(tmp_path / "r")]
        )
        == 2
    )
    assert "exists" in capsys.readouterr().err


def test_killed_run_resumes_from_its_backup(tmp_path):
    """A run killed during epoch 2 restarts at epoch 2 (keras BackupAndRestore in run.partial/)."""
    script = f"""
import sys, keras
from tfmtl.cli import main
class Kill(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1: raise SystemExit(9)
import tfmtl.training as t
orig = t.fit
t.fit = lambda *a, callbacks=(), **k: orig(*a, callbacks=[*callbacks, Kill()], **k)
main(["train", "--model", "mmoe", "--dataset", "synthetic", "--rows", "400", "--epochs", "3",
      "--output", r"{tmp_path / "run"}", "--hparams", '{{"num_experts": 2, "expert_units": [4]}}'])
"""
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr[-2000:]
    assert (tmp_path / "run.partial" / "backup").is_dir() and not (tmp_path / "run").exists()
    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfmtl.cli",
            "train",
            "--model",
            "mmoe",
            "--dataset",
            "synthetic",
            "--rows",
            "400",
            "--epochs",
            "3",
            "--output",
            str(tmp_path / "run"),
            "--hparams",
            '{"num_experts": 2, "expert_units": [4]}',
        ],
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    log = resumed.stdout + resumed.stderr
    assert "Epoch 2/3" in log and "Epoch 3/3" in log and "Epoch 1/3" not in log
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())["loss"]) == 2
    # a fresh process reads the model back (nothing registered beforehand) and scores its data
    scored = subprocess.run(
        [sys.executable, "-m", "tfmtl.cli", "evaluate", "--model", str(tmp_path / "run")],
        capture_output=True,
        text=True,
    )
    assert scored.returncode == 0, scored.stderr[-2000:]
    assert json.loads(scored.stdout)["test"]["task_a"]["count"] == 80
    assert (
        "oneDNN" not in scored.stderr and "absl::InitializeLog" not in scored.stderr
    )  # TF's C++ start-up lines


def test_train_in_mixed_bfloat16_saves_a_model_that_computes_in_it(tmp_path, capsys):
    import keras

    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--model",
                "mmoe",
                "--dataset",
                "synthetic",
                "--rows",
                "600",
                "--epochs",
                "1",
                "--output",
                str(out),
                "--precision",
                "mixed_bfloat16",
                "--hparams",
                '{"num_experts": 2, "expert_units": [8]}',
            ]
        )
        == 0
    )
    assert json.loads((out / "metrics.json").read_text())["precision"] == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    model = keras.saving.load_model(out / "model.keras")
    assert model.get_layer("mmoe").dtype_policy.name == "mixed_bfloat16"
    assert {w.dtype for w in model.weights} == {"float32"}


def test_flags_answer_to_both_spellings_and_help_shows_defaults(tmp_path, capsys):
    assert main(["serve", "--model-base-path", str(tmp_path / "none"), "--model-name", "x"]) == 2
    assert f"--model_base_path {tmp_path / 'none'} is not a directory" in capsys.readouterr().err
    from tfmtl.cli import build_parser

    text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert "--batch-size" in text and "(default: None)" in text


def test_loss_balancing_flag_trains_with_the_strategy_and_records_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--model",
                "mmoe",
                "--dataset",
                "synthetic",
                "--rows",
                "600",
                "--epochs",
                "3",
                "--output",
                str(out),
                "--loss-balancing",
                '{"strategy": "dwa", "temperature": 2}',
                "--hparams",
                '{"num_experts": 2, "expert_units": [8]}',
            ]
        )
        == 0
    )
    history = json.loads((out / "history.json").read_text())
    assert (
        history["loss_weight/task_a"][:2] == [1.0, 1.0] and history["loss_weight/task_a"][2] != 1.0
    )
    assert "dwa" in (out / "config.yaml").read_text()
    capsys.readouterr()
    assert (
        main(
            [
                "train",
                "--model",
                "mmoe",
                "--dataset",
                "synthetic",
                "--rows",
                "600",
                "--output",
                str(tmp_path / "bad"),
                "--loss-balancing",
                "pcgard",
            ]
        )
        == 2
    )
    assert "training.loss_balancing: 'pcgard' is not one of fixed" in capsys.readouterr().err


@pytest.mark.parametrize("dataset", ["census", "movielens1m"])
def test_missing_dataset_files_name_the_flag_and_key_not_the_python_argument(
    tmp_path, capsys, dataset
):
    args = ["--model", "mmoe", "--dataset", dataset, "--data-dir", str(tmp_path / "none")]
    assert main(["train", *args, "--epochs", "1", "--output", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "Set TFMTL_DATA_DIR (or --data-dir, or data.data_dir in a run config) to" in err, err
    assert "data_dir_" not in err and "data_dir=" not in err, err
