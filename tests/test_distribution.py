"""`training.distribution`: the same run on one device and mirrored over two logical CPUs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tfmtl import distribution


def test_mirrored_over_two_devices_trains_like_one_device(tmp_path):
    """Same global batch, same seed: the per-epoch losses agree (each replica's masked mean
    averages half the rows, so they differ by rounding and by the halves' label counts)."""
    worker = Path(__file__).with_name("distribution_worker.py")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run(
        [sys.executable, str(worker), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    losses = json.loads(done.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(losses["mirrored"], losses["none"], rtol=2e-3)
    assert (tmp_path / "mirrored" / "model.keras").is_file()


def test_a_distribution_of_another_backend_is_refused_with_the_fix():
    with pytest.raises(
        ValueError, match="jax_data_parallel runs on the jax backend.*KERAS_BACKEND"
    ):
        distribution.check("jax_data_parallel")
    with pytest.raises(ValueError, match="unknown 'ring'; choose one of: none, mirrored"):
        distribution.check("ring")


def test_multi_worker_without_tf_config_says_what_to_set(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="reads the cluster from TF_CONFIG"):
        with distribution.scope("multi_worker"):
            pass


def test_the_chief_is_worker_zero(monkeypatch):
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    for index, chief in ((0, True), (1, False)):
        tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
        assert distribution.is_chief() is chief and distribution.worker_index() == index
    monkeypatch.delenv("TF_CONFIG")
    monkeypatch.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "1")
    assert not distribution.is_chief()


def test_model_parallel_splits_embedding_rows_over_two_devices_and_trains_as_one():
    """`jax_model_parallel` on 2 forced CPU devices: a 16-row table holds 8 rows per device,
    a 5-row one (not divisible) stays whole; outputs and two epochs' losses equal one device's.
    """
    worker = Path(__file__).with_name("model_parallel_worker.py")
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
    }
    done = subprocess.run(
        [sys.executable, str(worker)], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["tables"] == {
        "features/embedding_item/embeddings": [16, 8],
        "features/embedding_segment/embeddings": [5, 5],
    }
    assert out["max_abs_diff"] < 1e-5
    losses = out["losses"]
    np.testing.assert_allclose(losses["jax_model_parallel"], losses["none"], rtol=1e-5)
