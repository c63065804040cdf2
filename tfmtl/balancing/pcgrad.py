"""PCGrad (Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS'20): drop conflicts.

Algorithm 1: every task's gradient `g_i` starts as `g_i' = g_i`; for each other task j, in
random order, when the two conflict (`g_i' · g_j < 0`) the part of `g_i'` along `g_j` goes:

    g_i' <- g_i' - (g_i' · g_j / ||g_j||²) g_j

and the update is `Σ_i g_i'`. Gradients that do not conflict pass unchanged, so with no
conflict PCGrad is the plain sum `Σ_k ∇L_k`. Like the official implementation, the
projections are on each task's whole flattened gradient; task-specific parameters are zero
in the other tasks' gradients, so they only enter through the dot products.

Differs from the paper: the order of the other tasks is random per task and per step, drawn
from a `keras.random.SeedGenerator` (an argsort of uniform numbers, so it compiles under XLA
and `jax.jit`); a task with no in-space rows in a batch (PLE eq 9) has a zero gradient and
so projects nothing away (`0 / ||0||²` is taken as 0).

Example:

>>> balancer = PCGrad(["ctr", "cvr"])
>>> g = keras.ops.convert_to_tensor([[1.0, 0.0], [-1.0, 1.0]])   # [K=2, 2]: conflicting
>>> np.round(keras.ops.convert_to_numpy(balancer.combine_gradients([g], [0.0, 0.0])[0]), 3)
array([0.5, 1.5], dtype=float32)
"""

from __future__ import annotations

import keras
from keras import ops

from tfmtl.balancing.base import GradientBalancer, flat, unflat


@keras.saving.register_keras_serializable(package="tfmtl")
class PCGrad(GradientBalancer):
    """Projecting conflicting gradients: `Σ_i g_i'`, each `g_i'` cleared of conflicts (Algorithm 1).

    Args:
        tasks: list of task names, in the model's task order.
        seed: int or None. Seed of the random task order. Defaults to `None` (Keras' global seed).
    """

    strategy = "pcgrad"

    def __init__(self, tasks, seed: int | None = None, **kwargs):
        super().__init__(tasks, **kwargs)
        if seed is not None and not isinstance(seed, int):
            raise ValueError(f"PCGrad's seed must be an int or None. Received: seed={seed!r}")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="pcgrad_seed")

    def loss_weights(self) -> list:
        return [ops.convert_to_tensor(1.0) for _ in self.tasks]

    def combine_gradients(self, task_gradients: list, losses) -> list:
        g = ops.cast(flat(task_gradients), "float32")  # [K, D]
        num_tasks = len(self.tasks)
        sq_norms = ops.sum(g * g, axis=1)  # [K]
        # Row i: a random order of all K tasks; j == i is skipped by the mask below.
        order = ops.argsort(
            keras.random.uniform((num_tasks, num_tasks), seed=self.seed_generator), axis=1
        )
        projected = g
        for step in range(num_tasks):
            j = order[:, step]  # [K]: the task each row projects against now
            g_j = ops.take(g, j, axis=0)  # [K, D]
            dot = ops.sum(projected * g_j, axis=1)  # [K]
            coef = ops.divide_no_nan(dot, ops.take(sq_norms, j))
            conflict = ops.logical_and(
                dot < 0.0, ops.not_equal(j, ops.arange(num_tasks, dtype=j.dtype))
            )
            projected = projected - ops.where(conflict, coef, 0.0)[:, None] * g_j
        return unflat(ops.sum(projected, axis=0), task_gradients)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
