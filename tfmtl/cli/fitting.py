"""The training half of `tfmtl train`: model from the registry, Keras `fit`, metrics, files.

One compact line per epoch (the loss and each task's validation metric), not Keras' full
log of every metric.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras

from tfmtl import distribution, training
from tfmtl.callbacks import WorkerBackup
from tfmtl.cli.errors import CommandError
from tfmtl.models.lookups import with_lookups


class EpochLine(keras.callbacks.Callback):
    """Prints `Epoch 3/10  12.1 s  loss 0.3012  val_loss 0.3104  val_income_auc 0.9512 ...`."""

    def __init__(self, epochs: int, tasks):
        super().__init__()
        self.epochs, self.tasks, self.start = epochs, list(tasks), 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        shown = [
            "loss",
            "val_loss",
            *(f"val_{t.name}_{'auc' if t.kind == 'binary' else 'mse'}" for t in self.tasks),
        ]
        values = "  ".join(f"{k} {float(logs[k]):.4f}" for k in shown if k in logs)
        print(
            f"Epoch {epoch + 1}/{self.epochs}  {time.time() - self.start:.1f} s  {values}",
            flush=True,
        )


def train_run(config: dict, data, partial: Path, chief: Path | None = None) -> dict:
    """Builds, fits and evaluates the config's model on `data`, writes it into `partial`.

    `chief`: on a non-chief worker, the chief's `partial`, whose backup every worker resumes
    from. Returns the metrics.
    """
    try:
        name = distribution.check(config["training"]["distribution"])
    except ValueError as e:
        raise CommandError(str(e)) from None
    data = _on_ids(data)
    start = time.time()
    with distribution.scope(name):  # the model is built, compiled and fitted inside
        model, history = _fit(config, data, partial, chief)
    seconds = time.time() - start
    return _evaluate_and_write(config, data, distribution.local(model), history, seconds, partial)


def _on_ids(data):
    """`data` as `FeatureSpec.encode`'s ids, for a model without lookups in its step (faster
    on TensorFlow; on JAX and torch, which have no strings, the only way). Hashed features
    have no vocabulary to encode with: on TensorFlow their data stays raw.
    """
    if keras.backend.backend() == "tensorflow" and any(
        getattr(f, "num_hash_bins", None) for f in data.spec.features
    ):
        return data
    try:
        return data.encoded()
    except ValueError as e:
        raise CommandError(
            f"{e} On KERAS_BACKEND={keras.backend.backend()} categorical features are encoded "
            "before the model; train hashed features on KERAS_BACKEND=tensorflow."
        ) from None


def _fit(config: dict, data, partial: Path, chief: Path | None):
    t = config["training"]
    model = compiled_model(config, data)
    partial.mkdir(parents=True, exist_ok=True)  # only once the config has built a model
    callbacks = _callbacks(t, data, model.tasks)
    if chief is not None:
        callbacks.append(WorkerBackup(partial / "backup", chief / "backup"))
    history = training.fit(
        model,
        data,
        epochs=t["epochs"],
        batch_size=t["batch_size"],
        seed=t["seed"],
        backup_dir=None if chief is not None else partial / "backup",
        callbacks=callbacks,
        verbose=0,
    )
    return model, history


def _evaluate_and_write(config: dict, data, model, history, seconds: float, partial: Path):
    t = config["training"]
    print("[tfmtl] evaluating", flush=True)
    metrics = {
        "model": config["model"],
        "description": data.description,
        "family": model.metadata.get("family"),
        "hparams": model.metadata.get("hparams", {}),
        "precision": t["precision"],
        "epochs_run": len(history.history.get("loss", [])),
        "train_seconds": round(seconds, 2),
        **{
            split: training.evaluate(model, data, split)
            for split in ("validation", "test")
            if split in data.splits
        },
    }
    if "dataset" in config["data"]:
        metrics["dataset"] = config["data"]["dataset"]
    if data.ids and keras.backend.backend() == "tensorflow":
        model = with_lookups(model)  # model.keras takes raw values, as serving sends them
    model.save(partial / "model.keras")
    (partial / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (partial / "history.json").write_text(
        json.dumps({k: [float(v) for v in vs] for k, vs in history.history.items()}, indent=2)
    )
    return metrics


def compiled_model(config: dict, data, build=None):
    """The config's model, compiled with its optimizer and loss balancing.

    `build(model_config, spec, tasks, lookup=...)` makes it; by default the registry's `build`.
    """
    from tfmtl.models import registry

    build = build or registry.build

    t = config["training"]
    if t["tensorboard"]:
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            raise CommandError(
                'training.tensorboard needs TensorBoard: pip install "tfmtl[tensorboard]"'
            )
    training.set_seed(t["seed"])
    try:
        with training.dtype_policy(t["precision"]):
            model = build(config["model"], data.spec, data.tasks, lookup=not data.ids)
    except (TypeError, ValueError) as e:
        raise CommandError(f"model: {e}") from None
    steps = t["epochs"] * -(-len(data["train"]) // t["batch_size"])
    try:
        training.compile_multitask(
            model, optimizer=_optimizer(t, steps), loss_balancing=t["loss_balancing"]
        )
    except ValueError as e:
        raise CommandError(f"training.loss_balancing: {e}") from None
    return model


def _optimizer(t: dict, steps: int):
    """The `training:` section's optimizer, its rate cosine-decayed over `steps` if asked."""
    rate = t["learning_rate"]
    if t["schedule"] == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, steps, alpha=0.05)
    if t["optimizer"] == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=t["weight_decay"])
    return keras.optimizers.Adam(rate)


def _callbacks(t: dict, data, tasks) -> list:
    """The epoch line; early stopping when the run has a validation split; TensorBoard if asked."""
    callbacks = [EpochLine(t["epochs"], tasks)]
    stop = t["early_stopping"]
    if stop and "validation" in data.splits:
        callbacks.append(training.early_stopping(stop["patience"], stop["monitor"], stop["mode"]))
    if t["tensorboard"]:
        callbacks.append(keras.callbacks.TensorBoard(str(t["tensorboard"])))
    return callbacks
