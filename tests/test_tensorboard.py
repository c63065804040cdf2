"""`fit` with a TensorBoard callback: per-task losses and metrics, PLE eq 10's loss weights."""

import dataclasses

import keras
import numpy as np

from tfmtl import training
from tfmtl.data import load_dataset
from tfmtl.models.registry import build


def _scalars(log_dir):
    """`<writer folder>/<tag>` -> {step: value}, from every event file under `log_dir`."""
    import tensorflow as tf

    values = {}
    for path in sorted(log_dir.rglob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for v in event.summary.value:
                number = tf.make_ndarray(v.tensor) if v.HasField("tensor") else v.simple_value
                values.setdefault(f"{path.parent.name}/{v.tag}", {})[event.step] = float(
                    np.asarray(number)
                )
    return values


def test_fit_writes_per_task_metrics_and_the_loss_weights_in_force(tmp_path):
    data = load_dataset("synthetic", rows=300)
    task_a, task_b = data.tasks
    tasks = [dataclasses.replace(task_a, loss_weight=2.0, decay=0.5), task_b]
    model = build({"family": "mmoe", "num_experts": 2, "expert_units": [4]}, data.spec, tasks)
    training.compile_multitask(model)
    board = keras.callbacks.TensorBoard(str(tmp_path / "tb"))
    training.fit(model, data, epochs=2, batch_size=128, verbose=0, callbacks=[board])
    scalars = _scalars(tmp_path / "tb")
    assert scalars["train/epoch_loss_weight/task_a"] == {0: 2.0, 1: 2.0 * 0.5}  # ω(t) = ω0 · γ^t
    assert scalars["train/epoch_loss_weight/task_b"] == {0: 1.0, 1: 1.0}
    for tag in (
        "train/epoch_loss",
        "train/epoch_task_a_loss",
        "train/epoch_task_a_mse",
        "train/epoch_task_b_loss",
        "train/epoch_task_b_mse",
        "validation/epoch_task_a_loss",
        "validation/epoch_task_a_mse",
        "validation/epoch_task_b_mse",
    ):
        assert sorted(scalars.get(tag, {})) == [0, 1], f"{tag} missing; tags: {sorted(scalars)}"
