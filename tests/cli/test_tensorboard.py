"""`training.tensorboard` in a run config reaches `fit`: the decayed loss weights are logged."""

from tests.test_tensorboard import _scalars
from tfmtl.cli import main


def test_run_config_tensorboard_logs_the_loss_weights_in_force(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        "data: {dataset: synthetic, rows: 400}\n"
        "tasks: [{name: task_a, weight: 2.0, decay: 0.5}, {name: task_b}]\n"
        "model: {family: mmoe, num_experts: 2, expert_units: [4]}\n"
        f"training: {{epochs: 2, batch_size: 128, tensorboard: '{tmp_path / 'tb'}'}}\n"
    )
    assert main(["train", "--config", str(config), "--output", str(tmp_path / "run")]) == 0
    scalars = _scalars(tmp_path / "tb")
    assert scalars["train/epoch_loss_weight/task_a"] == {0: 2.0, 1: 1.0}  # ω(t) = 2 · 0.5^t
    assert sorted(scalars["validation/epoch_task_a_mse"]) == [0, 1]
