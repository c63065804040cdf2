"""Backend neutrality: every zoo switcher trains under KERAS_BACKEND=tensorflow, jax
and torch, and a model trained under jax or torch loads, predicts and exports under TF.

The backend is fixed when Keras is imported, so each backend runs in its own subprocess
(`tests/backend_worker.py`), fed integer ids from `FeatureSpec.encode` (`lookup=False`).
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ["tensorflow", "jax", "torch"]
_RUNS = {}


def _run(backend, job, *args, timeout=900):
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "JAX_PLATFORMS": "cpu",
    }
    p = subprocess.run(
        [sys.executable, "-m", "tests.backend_worker", job, *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    assert p.returncode == 0 and lines, f"{backend} {job} failed:\n{p.stderr[-3000:]}"
    return json.loads(lines[-1])


def _suite(backend, tmp_path_factory, names="mmoe,ple"):
    if (
        importlib.util.find_spec(
            {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
        )
        is None
    ):
        pytest.skip(f"{backend} is not installed (pip install -e .[backends])")
    if (backend, names) not in _RUNS:
        folder = tmp_path_factory.mktemp(f"trained_{backend}")
        _RUNS[backend, names] = (_run(backend, "suite", folder, names), folder)
    return _RUNS[backend, names]


def _check_trained(backend, models):
    failed = {name: m["error"] for name, m in models.items() if "error" in m}
    assert not failed, f"on {backend}: " + "; ".join(
        f"{n}: {' '.join(ln.strip() for ln in e.splitlines() if ln.strip())[:400]}"
        for n, e in failed.items()
    )
    for name, m in models.items():
        assert np.isfinite(m["fit_losses"]).all() and np.isfinite(m["after"]), (backend, name, m)
        assert m["after"] < m["before"], (
            f"{name} on {backend}: loss {m['before']:.4f} -> {m['after']:.4f}"
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_mmoe_and_ple_train(backend, tmp_path_factory):
    result, _ = _suite(backend, tmp_path_factory)
    assert result["train"]["backend"] == backend
    assert set(result["train"]["models"]) == {"mmoe", "ple"}
    _check_trained(backend, result["train"]["models"])


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_zoo_switcher_trains(backend, tmp_path_factory):
    """Every registered switcher (~15 min for all three backends on 2 busy cores: -m slow)."""
    result, _ = _suite(backend, tmp_path_factory, names="all")
    models = result["train"]["models"]
    assert {"mmoe", "ple", "cgc", "omoe", "ml_mmoe", "shared_bottom", "single_task"} <= set(models)
    _check_trained(backend, models)


@pytest.mark.parametrize("backend", BACKENDS)
def test_loss_weight_schedule_reaches_the_compiled_step(backend, tmp_path_factory):
    s = _suite(backend, tmp_path_factory)[0]["schedule"]
    assert s["weights"] == [1.0, 0.5, 0.25]
    assert s["jit"] == (backend != "torch")
    drop_1, drop_2 = s["losses"][0] - s["losses"][1], s["losses"][1] - s["losses"][2]
    # frozen model: loss_t = w(t) L_click + L_buy, so the drops are 0.5 L and 0.25 L.
    assert drop_1 > 1e-3 and drop_1 == pytest.approx(2 * drop_2, rel=1e-3), s


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_trained_elsewhere_predicts_the_same_under_tf(backend, tmp_path_factory):
    _, folder = _suite(backend, tmp_path_factory)
    out = _run("tensorflow", "load", folder)
    for task, diff in out["max_abs_diff"].items():
        assert diff < 1e-5, f"{task}: .keras from {backend} loaded under TF differs by {diff}"
    for task, diff in out["max_abs_diff_exported"].items():
        assert diff < 1e-5, (
            f"{task}: TF SavedModel exported from a {backend}-trained model differs by {diff}"
        )
    for task, diff in out["max_abs_diff_raw_lookup"].items():
        assert diff < 1e-5, (
            f"{task}: the {backend} weights in a lookup=True TF model (raw values) differ by {diff}"
        )
