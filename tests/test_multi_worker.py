"""Past one process: two local workers on loopback ports train as one process does.

`multi_worker` (TensorFlow's MultiWorkerMirroredStrategy from `TF_CONFIG`) and
`jax_data_parallel` (keras.distribution over two JAX processes) through `tfmtl.local_workers`,
the launcher a user tries a cluster with; only the chief writes the run, and what it wrote
exports and serves.
"""

import io
import json
import os
import subprocess
import sys
import time

import numpy as np

from tests.cli.served import assert_serves_like_keras
from tfmtl import local_workers
from tfmtl.cli import main


def _train(out, distribution: str, rows: int = 2000, epochs: int = 2) -> list[str]:
    return [
        *("train", "--dataset", "demo", "--rows", str(rows), "--model", "ple"),
        *("--hparams", '{"expert_units": [8]}', "--epochs", str(epochs), "--batch-size", "256"),
        *("--distribution", distribution, "--output", str(out)),
    ]


def _losses(run) -> list[float]:
    return json.loads((run / "history.json").read_text())["loss"]


def test_two_workers_train_like_one_process_and_the_chiefs_run_serves(tmp_path, capsys):
    """Same global batch and seed: each epoch's loss agrees with one process (each replica's
    masked means average half the rows, so they differ by rounding and the halves' label
    counts)."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    log = io.StringIO()
    workers = local_workers.start_workers(2, _train(tmp_path / "two", "multi_worker"), env)
    assert local_workers.wait(workers, out=log, timeout=300) == 0, log.getvalue()[-3000:]
    assert "[w1] [tfmtl] worker 1 done; the chief writes" in log.getvalue()
    assert main(_train(tmp_path / "one", "none")) == 0
    np.testing.assert_allclose(_losses(tmp_path / "two"), _losses(tmp_path / "one"), rtol=3e-3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]  # no worker leftovers
    assert_serves_like_keras(tmp_path / "two", tmp_path / "models" / "ple", tmp_path, capsys)


def test_two_jax_processes_train_as_one_and_the_export_restores_the_lookups(tmp_path, capsys):
    """keras.distribution's DataParallel over two processes (CPU collectives): each global
    batch is split between them and the step is one SPMD program, so the losses equal one
    process's (whole batches: 1,536 training rows at 256)."""
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    log = io.StringIO()
    two = _train(tmp_path / "two", "jax_data_parallel", rows=2560)
    assert (
        local_workers.wait(local_workers.start_workers(2, two, env), out=log, timeout=300) == 0
    ), log.getvalue()[-3000:]
    one = subprocess.run(
        [sys.executable, "-m", "tfmtl.cli", *_train(tmp_path / "one", "none", rows=2560)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    np.testing.assert_allclose(_losses(tmp_path / "two"), _losses(tmp_path / "one"), rtol=1e-5)
    assert_serves_like_keras(tmp_path / "two", tmp_path / "models" / "ple", tmp_path, capsys)


def test_a_killed_worker_and_the_cluster_restarted_resume_from_the_chiefs_backup(tmp_path):
    """Worker 1 is killed once the chief has backed up two epochs; the launcher stops the chief
    (as a cluster manager restarts a failed job), and the same command resumes every worker
    from the chief's last backup, not from epoch 1."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    args = _train(tmp_path / "run", "multi_worker", rows=2560, epochs=12)
    metadata = tmp_path / "run.partial" / "backup" / "training_metadata.json"
    first, log = local_workers.start_workers(2, args, env), io.StringIO()
    deadline = time.monotonic() + 240
    while _backed_up_epochs(metadata) < 2 and time.monotonic() < deadline:
        assert None in [w.poll() for w in first], "the run ended before it could be killed"
        time.sleep(0.05)
    first[1].kill()
    assert local_workers.wait(first, out=log, timeout=120) != 0
    resumed_at = _backed_up_epochs(metadata)
    assert 2 <= resumed_at < 12, log.getvalue()[-3000:]
    log = io.StringIO()
    again = local_workers.start_workers(2, args, env)
    assert local_workers.wait(again, out=log, timeout=300) == 0, log.getvalue()[-3000:]
    epochs = [line for line in log.getvalue().splitlines() if line.startswith("[w0] Epoch ")]
    assert epochs[0].startswith(f"[w0] Epoch {resumed_at + 1}/12"), epochs
    assert len(_losses(tmp_path / "run")) == 12 - resumed_at


def _backed_up_epochs(metadata) -> int:
    try:
        return json.loads(metadata.read_text())["epoch"]
    except (OSError, ValueError, KeyError):  # not written yet, or being written
        return 0


def test_a_failing_worker_stops_the_others_and_its_status_is_returned():
    def worker(code: str):
        return subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    workers = [worker("import time; time.sleep(120)"), worker("print('bad input'); exit(3)")]
    log, start = io.StringIO(), time.monotonic()
    assert local_workers.wait(workers, out=log) == 3
    assert time.monotonic() - start < 60 and workers[0].returncode != 0  # stopped, not waited for
    assert "[w1] bad input\n" in log.getvalue()


def test_the_launcher_names_its_usage(capsys):
    assert local_workers.main(["train"]) == 2
    assert "usage: python -m tfmtl.local_workers N TFMTL_ARGS" in capsys.readouterr().err
