"""The jobs of tests/test_backends.py, under one Keras backend (set KERAS_BACKEND first).

- `train [names...]`: every zoo switcher trains;
- `schedule`: eq 10 weights reach the jit step;
- `save DIR`: train MMoE, save .keras and its numbers;
- `load DIR`: load, predict, export, compare.

    KERAS_BACKEND=jax python -m tests.backend_worker train [names...]
    KERAS_BACKEND=jax python -m tests.backend_worker schedule
    KERAS_BACKEND=jax python -m tests.backend_worker save DIR
    KERAS_BACKEND=tensorflow python -m tests.backend_worker load DIR

Each job prints one JSON line. Integer ids come from `FeatureSpec.encode` (`lookup=False`): the
string lookup is TF-only and stays outside the model on the other backends (docs/backends.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def data(rows: int = 256, seed: int = 0, with_raw: bool = False):
    """A tiny learnable two-task problem: spec, tasks, encoded features, labels (task 2 masked)."""
    import tfmtl
    from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec

    rng = np.random.default_rng(seed)
    raw = {
        "colour": rng.choice(np.array(["red", "green", "blue", "amber"]), size=rows),
        "shop": rng.integers(0, 7, size=rows).astype("int64"),
        "price": rng.lognormal(size=rows).astype("float32"),
        "age": rng.normal(40, 10, size=rows).astype("float32"),
    }
    spec = FeatureSpec(
        [
            CategoricalFeature("colour", embedding_dim=4),
            CategoricalFeature("shop", embedding_dim=3, dtype="int64"),
            DenseFeature("price", transform="log1p"),
            DenseFeature("age"),
        ]
    ).adapt(raw)
    signal = (raw["colour"] == "red") * 2.0 + (raw["age"] - 40) / 10 - 0.5
    click = (rng.random(rows) < 1 / (1 + np.exp(-2 * signal))).astype("float32")
    buy = np.where(click > 0, (rng.random(rows) < 1 / (1 + np.exp(-(raw["shop"] - 3.0)))), np.nan)
    tasks = [
        tfmtl.Task("click", tower_units=(8,), decay=0.5),  # eq 10: weights change every epoch
        tfmtl.Task("buy", tower_units=(4,), sample_space="click == 1"),
    ]
    labels = {"click": click, "buy": buy.astype("float32")}
    return (
        (spec, tasks, spec.encode(raw), labels, raw)
        if with_raw
        else (spec, tasks, spec.encode(raw), labels)
    )


def masked_bce(y, p):
    keep = np.isfinite(y)
    p = np.clip(p[keep], 1e-7, 1 - 1e-7)
    return float(-np.mean(y[keep] * np.log(p) + (1 - y[keep]) * np.log(1 - p)))


def loss_of(model, x, y) -> float:
    out = model.predict(x, verbose=0, batch_size=256)
    return sum(masked_bce(y[t], np.asarray(out[t]).reshape(-1)) for t in y)


def train(names=None) -> dict:
    """A few un-jitted steps of every zoo switcher (jit compiles would dominate the test's time)."""
    import keras

    from tfmtl.models import available_models, build_model
    from tfmtl.training import compile_multitask, set_seed

    spec, tasks, x, y = data(rows=192)
    result = {"backend": keras.backend.backend(), "models": {}}
    for name in names or available_models():
        try:
            set_seed(0)
            model = build_model(name, spec, tasks, lookup=False)
            compile_multitask(model, learning_rate=3e-2, jit_compile=False)
            before = loss_of(model, x, y)
            hist = model.fit(x, y, batch_size=64, epochs=2, shuffle=False, verbose=0)
            after = loss_of(model, x, y)
            result["models"][name] = {
                "before": before,
                "after": after,
                "fit_losses": [float(v) for v in hist.history["loss"]],
            }
        except Exception as e:  # report every switcher, not just the first failure
            result["models"][name] = {"error": f"{type(e).__name__}: {e}"[:2000]}
    return result


def schedule() -> dict:
    """PLE eq 10 under the backend's jit: with a frozen model (learning rate 0) the epoch loss
    is w_click(t) L_click + L_buy, so it must move by 0.5 L_click then 0.25 L_click as the
    schedule halves w_click, which only happens if the re-traced train step sees the new weight."""
    import keras

    from tfmtl.callbacks import LossWeightSchedule
    from tfmtl.models import build_model
    from tfmtl.training import compile_multitask, set_seed

    spec, tasks, x, y = data(rows=128)
    set_seed(0)
    model = build_model("mmoe", spec, tasks, lookup=False, num_experts=2, expert_units=[4])
    jit = keras.backend.backend() != "torch"  # XLA on TF, jax.jit on JAX; torch runs eagerly
    compile_multitask(model, optimizer=keras.optimizers.SGD(0.0), jit_compile=jit)
    cb = LossWeightSchedule(tasks)
    hist = model.fit(x, y, batch_size=128, epochs=3, shuffle=False, verbose=0, callbacks=[cb])
    return {
        "backend": keras.backend.backend(),
        "losses": [float(v) for v in hist.history["loss"]],
        "weights": [w["click"] for w in cb.history],
        "jit": bool(model.jit_compile),
    }


def save(folder: str) -> dict:
    import keras

    from tfmtl.models import build_model
    from tfmtl.training import compile_multitask, set_seed

    spec, tasks, x, y = data()
    set_seed(1)
    model = build_model("mmoe", spec, tasks, lookup=False, num_experts=3, expert_units=[8, 4])
    compile_multitask(model, learning_rate=1e-2)
    model.fit(x, y, batch_size=64, epochs=2, verbose=0)
    out = model.predict(x, verbose=0)
    path = Path(folder)
    model.save(path / "model.keras")
    np.savez(path / "expected.npz", **{t: np.asarray(v).reshape(-1) for t, v in out.items()})
    return {"backend": keras.backend.backend(), "saved": str(path / "model.keras")}


def load(folder: str) -> dict:
    import keras
    import tensorflow as tf

    import tfmtl  # noqa: F401  (registers the tfmtl layers)
    from tfmtl.models import build_model

    spec, tasks, x, y, raw = data(with_raw=True)
    path = Path(folder)
    model = keras.saving.load_model(path / "model.keras")
    expected = dict(np.load(path / "expected.npz"))
    got = {t: np.asarray(v).reshape(-1) for t, v in model.predict(x, verbose=0).items()}
    model.export(str(path / "saved_model"), format="tf_saved_model", verbose=False)
    reloaded = tf.saved_model.load(str(path / "saved_model"))  # keep it: it owns the variables
    served = reloaded.serve({k: tf.constant(v) for k, v in x.items()})
    served = {t: np.asarray(v).reshape(-1) for t, v in served.items()}
    diff = {t: float(np.abs(got[t] - expected[t]).max()) for t in expected}
    diff_served = {t: float(np.abs(served[t] - expected[t]).max()) for t in expected}
    # The string lookup boundary: the same weights in a lookup=True model take raw values.
    hp = model.metadata["hparams"]
    raw_model = build_model(
        "mmoe",
        spec,
        tasks,
        lookup=True,
        num_experts=hp["num_experts"],
        expert_units=hp["expert_units"],
    )
    raw_model.set_weights(model.get_weights())
    raw = {k: tf.constant(v) for k, v in raw.items()}
    from_raw = {t: np.asarray(v).reshape(-1) for t, v in raw_model.predict(raw, verbose=0).items()}
    diff_raw = {t: float(np.abs(from_raw[t] - expected[t]).max()) for t in expected}
    return {
        "backend": keras.backend.backend(),
        "max_abs_diff": diff,
        "max_abs_diff_exported": diff_served,
        "max_abs_diff_raw_lookup": diff_raw,
    }


def suite(folder: str, names: str = "all") -> dict:
    """Everything one backend's test needs, in one process (imports dominate the time).
    `names`: "all" zoo switchers, or a comma-separated list."""
    return {
        "train": train(None if names == "all" else names.split(",")),
        "schedule": schedule(),
        "save": save(folder),
    }


if __name__ == "__main__":
    job, rest = sys.argv[1], sys.argv[2:]
    out = {
        "train": lambda: train(rest),
        "schedule": schedule,
        "suite": lambda: suite(*rest),
        "save": lambda: save(rest[0]),
        "load": lambda: load(rest[0]),
    }[job]()
    print(json.dumps(out))
