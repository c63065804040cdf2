"""Training callbacks: the dynamic loss weights of PLE eq 10, a cluster's backup, an epoch timer."""

from __future__ import annotations

import time

import keras

from tfmtl.losses import MaskedLoss


class LossWeightSchedule(keras.callbacks.Callback):
    """Sets each task's loss weight to ω_k(t) = ω_k0 · γ_k^t at the start of epoch t (PLE eq 10).

    The weights live in the model's `MaskedLoss` objects (see `tfmtl.training.compile_multitask`);
    the train step is re-traced when they change, which works the same on every backend.
    The weights in force are logged as `loss_weight/<task>`: ω_k(t), times the weight a
    `tfmtl.balancing` strategy gave the task at the epoch's end when the model has one
    (after which the strategy's `end_epoch` sees the epoch's logs).

    Example:

    >>> data = tfmtl.data.load_demo(rows=300)
    >>> tasks = [tfmtl.Task("click", decay=0.5), tfmtl.Task("finish", sample_space="click == 1")]
    >>> model = tfmtl.models.build_model("mmoe", data.spec, tasks)
    >>> _ = tfmtl.training.compile_multitask(model)
    >>> train = data.dataset("train", batch_size=128, tasks=["click", "finish"])
    >>> schedule = LossWeightSchedule(tasks)
    >>> _ = model.fit(train, epochs=3, callbacks=[schedule], verbose=0)
    >>> [w["click"] for w in schedule.history]
    [1.0, 0.5, 0.25]
    """

    def __init__(self, tasks):
        super().__init__()
        self.tasks = list(tasks)
        self.history: list[dict] = []

    def _losses(self) -> dict:
        losses = self.model.loss
        if not isinstance(losses, dict) or not all(
            isinstance(losses.get(t.name), MaskedLoss) for t in self.tasks
        ):
            raise ValueError(
                "LossWeightSchedule needs a model compiled with one tfmtl MaskedLoss per task "
                "(use tfmtl.training.compile_multitask)."
            )
        return losses

    def on_epoch_begin(self, epoch, logs=None):
        losses, changed = self._losses(), False
        weights = {}
        for task in self.tasks:
            w = task.loss_weight_at(epoch)
            weights[task.name] = w
            if losses[task.name].weight != w:
                losses[task.name].weight, changed = w, True
        self.history.append(weights)
        if changed and self.model.train_function is not None:
            self.model.make_train_function(force=True)

    def on_epoch_end(self, epoch, logs=None):
        balancer = getattr(self.model, "balancer", None)
        if balancer is not None:  # the strategy's weight multiplies ω_k(t)
            for task, w in zip(balancer.tasks, balancer.loss_weights()):
                self.history[-1][task] *= float(keras.ops.convert_to_numpy(w))
            balancer.end_epoch(epoch, logs or {})
        if logs is not None:
            for name, w in self.history[-1].items():
                logs[f"loss_weight/{name}"] = w


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch's training part (validation excluded), in `seconds`."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(self._last - self._start)


class WorkerBackup(keras.callbacks.BackupAndRestore):
    """A non-chief worker's `BackupAndRestore`: it saves its own backup every epoch (saving
    reads the variables together, so every worker takes part) and restores from the chief's.

    Workers killed at different moments can hold backups an epoch apart; resuming every one
    from the chief's puts them all at the same epoch and weights.

    Args:
        backup_dir: str. This worker's own backup folder.
        chief_backup_dir: str. The chief's, on a filesystem every worker reads.
    """

    def __init__(self, backup_dir, chief_backup_dir):
        super().__init__(str(backup_dir), double_checkpoint=True)
        self.chief = keras.callbacks.BackupAndRestore(str(chief_backup_dir), double_checkpoint=True)

    def on_train_begin(self, logs=None):
        self.chief.set_model(self.model)
        self.chief.on_train_begin(logs)  # the chief's weights and epoch, if it saved any
