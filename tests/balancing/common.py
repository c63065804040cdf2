"""What the strategy tests share: the JAX fit in a subprocess, and gradients laid out as the step
does.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

needs_jax = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="jax is not installed"
)


def jax_fit(loss_balancing) -> dict:
    """`tests/balancing/jax_fit.py` in a fresh interpreter under KERAS_BACKEND=jax, on the CPU: its
    JSON line.
    """
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tests.balancing.jax_fit", json.dumps(loss_balancing)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1])


def as_variables(matrix, shapes) -> list:
    """[K, D] -> [K, *shape] per variable, the layout the train step hands the balancer."""
    out, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(
            keras.ops.convert_to_tensor(
                matrix[:, start : start + size].reshape((len(matrix), *shape))
            )
        )
        start += size
    return out


def flat_numpy(tensors) -> np.ndarray:
    return np.concatenate([keras.ops.convert_to_numpy(t).reshape(-1) for t in tensors])


def round_trip(model, path, data):
    """Saves `model` to `path` and loads it; returns the loaded model, checked to predict the same.

    The check runs on 8 test rows.
    """
    model.save(path)
    restored = keras.saving.load_model(path)
    x = {name: values[:8] for name, values in data["test"].features.items()}
    want, got = model.predict(x, verbose=0), restored.predict(x, verbose=0)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=1e-6)
    return restored
