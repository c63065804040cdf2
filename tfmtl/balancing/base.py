"""The loss-balancing contract: per-task losses (and, for some strategies, gradients) -> one update.

A `LossBalancer` is a Keras layer attached to a `MultiTaskModel` (`model.balancer`), so its
variables (learnt log-variances, weights a strategy adapts) train, save in `.keras` and live
in the JAX trainer's state like every other model variable. `MultiTaskModel.compute_loss`
hands it the task losses in task order, each already `L_k = ω_k(t) · masked mean` (PLE eq 9
and 10: rows outside a task's space give it neither loss nor gradient), and minimises what
`combine` returns. A `GradientBalancer` also sees every task's own gradient and decides the
update (`combine_gradients`); `tfmtl.balancing.gradient_step` runs that train step on the
TensorFlow and JAX backends.

Example:

>>> balancer = FixedWeights(["ctr", "cvr"])
>>> float(balancer.combine([keras.ops.convert_to_tensor(0.5), keras.ops.convert_to_tensor(0.25)]))
0.75
>>> [float(w) for w in balancer.loss_weights()]
[1.0, 1.0]
"""

from __future__ import annotations

import keras
from keras import ops


class LossBalancer(keras.layers.Layer):
    """Base class: task losses -> the one scalar the optimizer minimises.

    Subclasses set `strategy` (their registry name), create variables in `__init__` (the
    number of tasks is known), and implement `combine` and `loss_weights`; `end_epoch`
    is for strategies that adapt on epoch results (DWA).

    Args:
        tasks: list of task names, in the model's task order.
    """

    strategy = ""
    needs_task_gradients = False

    def __init__(self, tasks, **kwargs):
        super().__init__(**kwargs)
        self.tasks = [str(t) for t in tasks]
        if not self.tasks:
            raise ValueError(
                f"{type(self).__name__} needs at least one task. Received: tasks={tasks!r}"
            )
        self.trackers = [keras.metrics.Mean(name=f"{name}_loss") for name in self.tasks]

    def combine(self, losses, training: bool = False):
        """The total loss from `losses`, one scalar per task in task order."""
        raise NotImplementedError

    def loss_weights(self) -> list:
        """The weight each task's loss has in the total now (scalars, task order), for the logs."""
        raise NotImplementedError

    def end_epoch(self, epoch: int, logs: dict) -> None:
        """Adapt on the finished epoch's logs (`<task>_loss`, ...). Default: nothing."""

    def track(self, losses) -> None:
        """Record each task's loss for the epoch logs as `<task>_loss` (its mean over batches)."""
        for tracker, loss in zip(self.trackers, losses):
            tracker.update_state(loss)

    def get_config(self):
        return {**super().get_config(), "tasks": list(self.tasks)}


class GradientBalancer(LossBalancer):
    """A balancer that sets the update from the tasks' separate gradients (PCGrad, GradNorm, ...).

    `combine` is still the loss reported (and, on evaluation, the validation loss);
    `combine_gradients` decides what the optimizer applies.
    """

    needs_task_gradients = True

    def __init__(self, tasks, **kwargs):
        backend = keras.backend.backend()
        if backend not in ("tensorflow", "jax"):  # fail at compile time, not at the first step
            raise ValueError(
                f"loss_balancing '{self.strategy}' needs per-task gradients, implemented "
                f"for the tensorflow and jax backends; KERAS_BACKEND is '{backend}'."
            )
        super().__init__(tasks, **kwargs)

    def combine(self, losses, training: bool = False):
        weights = self.loss_weights()
        return sum(w * loss for w, loss in zip(weights, losses))

    def combine_gradients(self, task_gradients: list, losses) -> list:
        """The gradient to apply per trainable variable.

        Args:
            task_gradients: list, one per trainable variable, of `[K, *variable.shape]`
                tensors: row k is task k's gradient of its own loss `L_k` (zeros where the
                variable does not affect the task).
            losses: list of the K scalar task losses.

        Returns:
            list of tensors, one per trainable variable, each `variable.shape`.
        """
        raise NotImplementedError


@keras.saving.register_keras_serializable(package="tfmtl")
class FixedWeights(LossBalancer):
    """The plain sum `Σ_k L_k` (each L_k already carries its configured ω_k(t), PLE eq 10)."""

    strategy = "fixed"

    def combine(self, losses, training: bool = False):
        return sum(losses[1:], losses[0])

    def loss_weights(self) -> list:
        return [ops.convert_to_tensor(1.0) for _ in self.tasks]


def flat(tensors) -> "keras.KerasTensor":
    """`[K, *shape]` tensors -> one `[K, D]` matrix (row k: task k's whole gradient)."""
    return ops.concatenate([ops.reshape(t, (ops.shape(t)[0], -1)) for t in tensors], axis=1)


def unflat(matrix_row, like) -> list:
    """A `[D]` vector -> tensors shaped as `like`'s per-variable shapes (without the task axis)."""
    out, start = [], 0
    for t in like:
        shape = tuple(t.shape[1:])
        size = 1
        for d in shape:
            size *= int(d)
        out.append(ops.reshape(matrix_row[start : start + size], shape))
        start += size
    return out


def shared_entries(matrix) -> "keras.KerasTensor":
    """`[K, D]` task gradients -> `[D]` bool: the entries that two or more tasks' gradients touch.

    The shared parameters W of GradNorm and MetaBalance, found from the gradients rather than
    from the architecture: an entry only one task moves is that task's own (its tower, head,
    or a switcher part only its gate uses).
    """
    touched = ops.sum(ops.cast(ops.not_equal(matrix, 0.0), "int32"), axis=0)
    return ops.greater_equal(touched, 2)
