"""Fit MMoE on the demo data for 2 epochs with one loss-balancing strategy, under the backend set.

    KERAS_BACKEND=jax python -m tests.balancing.jax_fit '"dwa"'
    KERAS_BACKEND=jax python -m tests.balancing.jax_fit '{"strategy": "rlw", "seed": 3}'

The argument is `loss_balancing` as JSON (a name or `{"strategy": name, **options}`). Prints
one JSON line `{"history": {key: [value per epoch]}}`, plus `"backend"` and `"balancer"` (the
balancer's variables after the fit, by name). Integer ids come from `FeatureSpec.encode`
(`lookup=False`), as in tests/backend_worker.py: the string lookup is TF-only. The loop is
`model.fit` with `LossWeightSchedule`, so the epoch logs carry `loss_weight/<task>` and the
strategy's `end_epoch` runs, as in `tfmtl.training.fit`. The 900 training rows go in 3 equal
batches of 300: one batch shape, so one `jax.jit` compile.
"""

from __future__ import annotations

import json
import sys

import numpy as np


def run(loss_balancing, epochs: int = 2, rows: int = 1500, batch_size: int = 300) -> dict:
    import keras

    from tfmtl.callbacks import LossWeightSchedule
    from tfmtl.data.demo import load_demo
    from tfmtl.models.zoo import build_model
    from tfmtl.training import compile_multitask, set_seed

    data = load_demo(rows=rows, seed=0)
    train = data["train"]
    x = data.spec.encode(train.features)
    y = {t.name: np.asarray(train.labels[t.name], np.float32) for t in data.tasks}
    set_seed(0)
    model = build_model("mmoe", data.spec, data.tasks, lookup=False)
    compile_multitask(model, loss_balancing=loss_balancing)
    hist = model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=epochs,
        shuffle=False,
        verbose=0,
        callbacks=[LossWeightSchedule(model.tasks)],
    )
    balancer = {}
    if model.balancer is not None:
        for v in model.balancer.variables:
            balancer[v.path] = np.asarray(keras.ops.convert_to_numpy(v)).astype(float).tolist()
    return {
        "backend": keras.backend.backend(),
        "history": {k: [float(v) for v in values] for k, values in hist.history.items()},
        "balancer": balancer,
    }


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]))))
