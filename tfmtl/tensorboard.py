"""TensorBoard logs of a multi-task run: Keras' own scalars plus the loss weights in force.

`keras.callbacks.TensorBoard` writes every scalar in the epoch logs, so each task's loss and
metrics appear as `epoch_<task>_loss`, `epoch_<task>_<metric>` under `train/` and
`validation/`. What it cannot see is the loss weight each task trained with in an epoch
(PLE eq 10); `LossWeightSummary` writes those as `loss_weight/<task>`, read from the
compiled losses themselves.

Example:

>>> history = tfmtl.training.fit(model, data, epochs=5, tensorboard_dir="runs/ple/tb")  # doctest: +SKIP

then `tensorboard --logdir runs/ple/tb`.
"""

from __future__ import annotations

import os

import keras

from tfmtl.losses import MaskedLoss


class LossWeightSummary(keras.callbacks.Callback):
    """Writes each task's loss weight in force at epoch t as the scalar `loss_weight/<task>`.

    The weights are read at the start of each epoch from the model's `MaskedLoss` objects
    (`tfmtl.training.compile_multitask`), after any `LossWeightSchedule` placed before this
    callback has set ω_k(t) = ω_k0 · γ_k^t (PLE eq 10). Steps are epochs counted from 0, as
    in `keras.callbacks.TensorBoard`.

    Args:
        log_dir: str. Folder of the event files; `train/` beside Keras' own is usual.
        tasks: list of `Task`. The tasks whose weights are written.

    Example:

    >>> from tfmtl.tasks import Task
    >>> summary = LossWeightSummary("tb/train", [Task("ctr", kind="binary", label="click")])
    >>> summary.log_dir, [t.name for t in summary.tasks]
    ('tb/train', ['ctr'])
    """

    def __init__(self, log_dir, tasks):
        super().__init__()
        self.log_dir = str(log_dir)
        self.tasks = list(tasks)
        self._writer = None

    def _weights(self) -> dict:
        losses = self.model.loss
        if not isinstance(losses, dict) or not all(isinstance(losses.get(t.name), MaskedLoss) for t in self.tasks):
            raise ValueError(
                "LossWeightSummary needs a model compiled with one tfmtl MaskedLoss per task "
                "(use tfmtl.training.compile_multitask)."
            )
        return {t.name: float(losses[t.name].weight) for t in self.tasks}

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        self._writer = tf.summary.create_file_writer(self.log_dir)

    def on_epoch_begin(self, epoch, logs=None):
        import tensorflow as tf

        with self._writer.as_default():
            for name, weight in self._weights().items():
                tf.summary.scalar(f"loss_weight/{name}", weight, step=epoch)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def tensorboard_callbacks(log_dir, tasks) -> list:
    """`keras.callbacks.TensorBoard(log_dir)` and a `LossWeightSummary` into its `train/` folder.

    Place them after the `LossWeightSchedule`, as `tfmtl.training.fit(tensorboard_dir=...)` does.

    >>> from tfmtl.tasks import Task
    >>> [type(c).__name__ for c in tensorboard_callbacks("tb", [Task("ctr", kind="binary", label="click")])]
    ['TensorBoard', 'LossWeightSummary']
    """
    log_dir = os.fspath(log_dir)
    return [
        keras.callbacks.TensorBoard(log_dir),
        LossWeightSummary(os.path.join(log_dir, "train"), tasks),
    ]
