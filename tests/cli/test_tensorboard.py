"""`training.tensorboard`: per-task losses and metrics and the loss weights in force (PLE eq 10)."""

import numpy as np

from tfmtl.cli import main


def _scalars(log_dir):
    import tensorflow as tf

    values = {}
    for path in sorted(log_dir.rglob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for v in event.summary.value:
                number = tf.make_ndarray(v.tensor) if v.HasField("tensor") else v.simple_value
                values.setdefault(f"{path.parent.name}/{v.tag}", {})[event.step] = float(np.asarray(number))
    return values


def test_tensorboard_logs_per_task_metrics_and_decayed_loss_weights(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("data: {dataset: synthetic, rows: 400}\n"
                      "tasks: [{name: task_a, weight: 2.0, decay: 0.5}, {name: task_b}]\n"
                      "model: {family: mmoe, num_experts: 2, expert_units: [4]}\n"
                      f"training: {{epochs: 2, batch_size: 128, tensorboard: '{tmp_path / 'tb'}'}}\n")
    assert main(["train", "--config", str(config), "--output", str(tmp_path / "run")]) == 0
    scalars = _scalars(tmp_path / "tb")
    assert scalars["train/epoch_loss_weight/task_a"] == {0: 2.0, 1: 1.0}  # ω(t) = 2 · 0.5^t
    assert scalars["train/epoch_loss_weight/task_b"] == {0: 1.0, 1: 1.0}
    for tag in ("train/epoch_task_a_loss", "train/epoch_task_b_mse", "validation/epoch_task_a_mse"):
        assert sorted(scalars[tag]) == [0, 1], sorted(scalars)
