"""Compile and train multi-task models with plain Keras `fit`, resumably.

Example:

>>> import tempfile
>>> data = tfmtl.data.load_demo(rows=300)
>>> model = tfmtl.models.build_model("ple", data.spec, data.tasks)
>>> _ = compile_multitask(model, learning_rate=1e-3)
>>> history = fit(model, data, epochs=2, batch_size=128, backup_dir=tempfile.mkdtemp(),
...               verbose=0)
>>> report = evaluate(model, data, "test")
>>> sorted(report), sorted(report["click"])
(['click', 'finish', 'watch_time'], ['auc', 'count', 'logloss', 'ne'])
"""

from __future__ import annotations

import keras
import numpy as np

from tfmtl import distribution
from tfmtl.callbacks import LossWeightSchedule
from tfmtl.losses import MaskedLoss
from tfmtl.metrics import MaskedAUC, MaskedMSE, evaluate_predictions
from tfmtl.models.precision import dtype_policy as dtype_policy


def compile_multitask(
    model,
    tasks=None,
    optimizer=None,
    learning_rate: float = 1e-3,
    jit_compile="auto",
    loss_balancing=None,
    **kwargs,
):
    """Compile `model` with one masked loss (PLE eq 9) and one masked metric per task.

    Binary tasks get cross-entropy and AUC, regression tasks MSE; each loss starts at the
    task's weight ω_k0 (`LossWeightSchedule` applies eq 10 during `fit`). `loss_balancing`
    (a strategy name or `{"strategy": name, **options}`, see `tfmtl.balancing`) weights the
    task losses on top of ω_k(t); None or `"fixed"` sums them.
    """
    from tfmtl.balancing import make_balancer

    tasks = list(tasks if tasks is not None else model.tasks)
    losses = {
        t.name: MaskedLoss(t.kind, weight=t.loss_weight_at(0), name=f"{t.name}_loss") for t in tasks
    }
    metrics = {
        t.name: [MaskedAUC(name="auc") if t.kind == "binary" else MaskedMSE(name="mse")]
        for t in tasks
    }
    optimizer = optimizer or keras.optimizers.Adam(learning_rate)
    model.set_balancer(make_balancer(loss_balancing, tasks))
    model.compile(
        optimizer=optimizer, loss=losses, metrics=metrics, jit_compile=jit_compile, **kwargs
    )
    return model


def fit(
    model,
    data,
    epochs: int,
    batch_size: int = 1024,
    seed: int = 0,
    backup_dir: str | None = None,
    callbacks=(),
    **fit_kwargs,
):
    """`model.fit` on `data["train"]`, validating on `data["validation"]` when present.

    `backup_dir`: a `keras.callbacks.BackupAndRestore` folder, so a killed run resumes from
    its last finished epoch when started again with the same folder.
    `callbacks` run after `LossWeightSchedule`, so a `keras.callbacks.TensorBoard` among them
    logs every scalar of the epoch logs under `train/` and `validation/` (each task's
    `epoch_<task>_loss` and `epoch_<task>_<metric>`) and `epoch_loss_weight/<task>`, the
    weight each task trained with that epoch (PLE eq 10). For early stopping on the
    validation loss, pass `early_stopping(patience)`. Other keyword arguments (`verbose`) go
    to `model.fit`.
    """
    names = [t.name for t in model.tasks]
    even = distribution.even_batches()  # then whole batches only, and validation at batch_size
    batches = {"tasks": names, "drop_remainder": even}
    train = data.dataset("train", batch_size, shuffle=True, seed=seed, **batches)
    validation = None
    if "validation" in data.splits and not (even and len(data["validation"]) < batch_size):
        validation_batch = batch_size if even else max(batch_size, 4096)
        validation = data.dataset("validation", validation_batch, **batches)
    cbs = [LossWeightSchedule(model.tasks), *callbacks]
    if backup_dir:
        # double_checkpoint: a run killed while saving resumes from the backup before
        cbs.append(keras.callbacks.BackupAndRestore(str(backup_dir), double_checkpoint=True))
    return model.fit(
        train, validation_data=validation, epochs=epochs, callbacks=cbs, shuffle=False, **fit_kwargs
    )


def early_stopping(patience: int, monitor: str = "val_loss", mode: str = "auto"):
    """Stop when `monitor` stops improving for `patience` epochs; keep the best weights."""
    return keras.callbacks.EarlyStopping(
        monitor=monitor, patience=patience, mode=mode, restore_best_weights=True
    )


def predict(model, data, split: str, batch_size: int = 8192) -> dict:
    """Task name -> `[N]` predictions on `split`."""
    features = data[split].features
    out = model.predict(data.dataset(split, batch_size=batch_size).map(lambda x, y: x), verbose=0)
    return {k: np.asarray(v).reshape(-1) for k, v in out.items()} if features else {}


def evaluate(model, data, split: str = "test", batch_size: int = 8192) -> dict:
    """Exact per-task metrics on `split` (see `tfmtl.metrics.evaluate_predictions`)."""
    return evaluate_predictions(
        model.tasks, predict(model, data, split, batch_size), data[split].labels
    )


def set_seed(seed: int) -> None:
    """Seed Python, numpy and the backend, for repeatable runs."""
    keras.utils.set_random_seed(int(seed))
