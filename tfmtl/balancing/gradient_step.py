"""The train step of a `GradientBalancer`: one gradient per task, then the balancer's update.

`MultiTaskModel.train_step` hands over here when `model.balancer.needs_task_gradients`. It
mirrors Keras' own `train_step` (keras/src/backend/tensorflow/trainer.py and
keras/src/backend/jax/trainer.py), except that instead of differentiating one total it takes
each task loss `L_k` (PLE eq 9: out-of-space rows give a task neither loss nor gradient)
apart, stacks task k's gradient as row k of a `[K, *variable.shape]` tensor per trainable
variable, and applies what `balancer.combine_gradients` makes of them. Regularisers' and
`add_loss` terms keep their plain gradient, added after balancing. The loss reported is
`balancer.combine(losses)` plus those terms, as with the other strategies.

- tensorflow: `train_step(model, data) -> logs`; K backward passes from one persistent tape,
  inside Keras' `tf.function` (XLA with `jit_compile=True`).
- jax: `train_step(model, state, data) -> (logs, state)`; `jax.jacrev` of the K task losses
  (a vmap of K backward passes), and `combine_gradients` under a `StatelessScope` so the
  balancer's variable assignments (GradNorm weights, MetaBalance averages, ...) become the
  new state.

Any other backend is refused when the balancer is made (`GradientBalancer.__init__`).

Example:

>>> data = tfmtl.data.load_demo(rows=300)
>>> model = tfmtl.models.zoo.build_model("mmoe", data.spec, data.tasks)
>>> _ = tfmtl.training.compile_multitask(model, loss_balancing="pcgrad")
>>> history = tfmtl.training.fit(model, data, epochs=1, batch_size=128, verbose=0)
>>> bool(np.isfinite(history.history["loss"][-1]))
True
"""

from __future__ import annotations

import keras
from keras import ops

try:  # Keras' own helper (a multiply under multi-replica tf.distribute, else the identity)
    from keras.src.losses.loss import unscale_loss_for_distribution
except ImportError:  # pragma: no cover - older or newer Keras layouts

    def unscale_loss_for_distribution(value):
        return value


def train_step(model, *args):
    """One training step of `model` with its `GradientBalancer`, on the current backend.

    Args:
        model: a compiled `tfmtl.models.MultiTaskModel` whose `balancer` needs task gradients.
        *args: what Keras passes its backend's `train_step`: `(data,)` on tensorflow,
            `(state, data)` on jax.

    Returns:
        The logs dict (tensorflow), or the pair `(logs, state)` (jax).
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow_train_step(model, *args)
    if backend == "jax":
        return _jax_train_step(model, *args)
    raise ValueError(
        f"loss_balancing '{model.balancer.strategy}' needs per-task gradients, implemented for "
        f"the tensorflow and jax backends; KERAS_BACKEND is '{backend}'."
    )


def _batch_size(x):
    first = next(t for t in keras.tree.flatten(x) if t is not None)
    return ops.shape(first)[0]


def _forward_kwargs(model) -> dict:
    return {"training": True} if model._call_has_training_arg else {}


def _extra_loss(model, extra_losses):
    """The regularisers' and `add_loss` terms, summed (0 when there are none)."""
    total = ops.zeros((), "float32")
    for extra in extra_losses:
        total = total + ops.cast(model._aggregate_additional_loss(extra), "float32")
    return total


def _tensorflow_train_step(model, data):
    import tensorflow as tf

    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    variables = model.trainable_variables
    balancer = model.balancer
    with tf.GradientTape(persistent=True) as tape:
        y_pred = model(x, **_forward_kwargs(model))
        losses = model.task_losses(y, y_pred)
        balancer.track(losses)
        extra = _extra_loss(model, model.losses)
        total = balancer.combine(losses, training=True) + extra
        model._loss_tracker.update_state(
            unscale_loss_for_distribution(total), sample_weight=_batch_size(x)
        )
        # Loss scaling (LossScaleOptimizer, loss_scale_factor): each task is differentiated
        # scaled, as Keras does the total, and unscaled before balancing.
        scale = ops.cast(model.optimizer.scale_loss(ops.ones((), "float32")), "float32")
        scaled = [ops.cast(loss, "float32") * scale for loss in losses]
        extra = extra * scale
    per_task = [_dense_gradients(tape, loss, variables) for loss in scaled]
    extra_grads = _dense_gradients(tape, extra, variables) if model.losses else None
    del tape
    task_gradients = [
        tf.stack([g[i] for g in per_task]) / ops.cast(scale, v.dtype)
        for i, v in enumerate(variables)
    ]
    grads = balancer.combine_gradients(task_gradients, losses)
    grads = [ops.cast(g, v.dtype) * ops.cast(scale, v.dtype) for g, v in zip(grads, variables)]
    if extra_grads is not None:
        grads = [g + e for g, e in zip(grads, extra_grads)]
    model.optimizer.apply_gradients(zip(grads, variables))
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


def _dense_gradients(tape, loss, variables) -> list:
    import tensorflow as tf

    grads = tape.gradient(loss, variables)
    # A variable the loss does not reach gets zeros (UnconnectedGradients.ZERO cannot read a
    # Keras variable's string dtype); embedding tables' IndexedSlices stack as dense rows.
    return [
        tf.zeros(v.shape, v.dtype) if g is None else tf.convert_to_tensor(g)
        for g, v in zip(grads, variables)
    ]


def _jax_train_step(model, state, data):
    import jax
    import jax.numpy as jnp

    trainable, non_trainable, optimizer_variables, metrics_variables = state
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    balancer, num_tasks = model.balancer, len(model.tasks)
    with keras.StatelessScope(
        state_mapping=list(zip(model.optimizer.variables, optimizer_variables))
    ):
        scale = jnp.asarray(model.optimizer.scale_loss(jnp.ones((), "float32")), "float32")

    def task_losses(trainable_values):
        # As Keras' compute_loss_and_updates / stateless_compute_loss, one loss per task.
        y_pred, new_non_trainable, extra_losses = model.stateless_call(
            trainable_values, non_trainable, x, return_losses=True, **_forward_kwargs(model)
        )
        mapping = list(zip(model.trainable_variables, trainable_values))
        mapping += zip(model.non_trainable_variables, new_non_trainable)
        mapping += zip(model.metrics_variables, metrics_variables)
        with keras.StatelessScope(state_mapping=mapping):
            losses = [jnp.asarray(loss, "float32") for loss in model.task_losses(y, y_pred)]
            extra = _extra_loss(model, extra_losses)
        values = jnp.stack([*losses, extra])  # [K + 1]
        return values * scale, (values, y_pred, new_non_trainable)

    jacobian, (values, y_pred, non_trainable) = jax.jacrev(task_losses, has_aux=True)(trainable)
    losses = [values[k] for k in range(num_tasks)]
    mapping = list(zip(model.trainable_variables, trainable))
    mapping += zip(model.non_trainable_variables, non_trainable)
    mapping += zip(model.metrics_variables, metrics_variables)
    with keras.StatelessScope(state_mapping=mapping) as scope:
        balancer.track(losses)
        total = balancer.combine(losses, training=True) + values[num_tasks]
        grads = balancer.combine_gradients([j[:num_tasks] / scale for j in jacobian], losses)
    non_trainable = [scope.get_current_value(v) for v in model.non_trainable_variables]
    metrics_variables = [scope.get_current_value(v) for v in model.metrics_variables]
    grads = [
        jnp.asarray(g, v.dtype) * scale + j[num_tasks]
        for g, j, v in zip(grads, jacobian, trainable)
    ]
    trainable, optimizer_variables = model.optimizer.stateless_apply(
        optimizer_variables, grads, trainable
    )
    logs, metrics_variables = model._update_metrics_variables(
        metrics_variables, total, x, y, y_pred, sample_weight
    )
    return logs, (trainable, non_trainable, optimizer_variables, metrics_variables)
