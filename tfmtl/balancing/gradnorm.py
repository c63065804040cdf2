"""GradNorm (Chen et al., ICML'18): weights that bring each task's gradient norm to a common target.

Each task k has a weight `w_k` (starting at 1); the model trains on `Σ_k w_k L_k`. On the
shared parameters W, with `G_k = ||∇_W (w_k L_k)|| = w_k ||∇_W L_k||`, `Ḡ = mean_k G_k`,
the loss ratio `L̃_k = L_k(t) / L_k(0)` and the relative inverse training rate
`r_k = L̃_k / mean_k L̃_k`, GradNorm minimises (eq 2)

    L_grad = Σ_k |G_k − Ḡ · r_k^α|

over the weights only, the target `Ḡ · r_k^α` held constant, so
`∂L_grad/∂w_k = sign(G_k − Ḡ r_k^α) · ||∇_W L_k||`. A task that trains slower (larger r_k)
gets a larger target and so a larger weight; α sets how hard rates are pulled together.
After each step `w ← w − lr · ∂L_grad/∂w` the weights are renormalised to `Σ_k w_k = K`
(Algorithm 1).

Differs from the paper: W is the entries of the gradient that at least two tasks touch
(`tfmtl.balancing.base.shared_entries`), found per step, rather than the last shared layer's
weights, so it applies to every model in the zoo (and covers the shared embeddings too). The
weights take a plain gradient step with their own `learning_rate` rather than the network's
optimizer, and stay positive (clipped at 1e-3 before renormalising). `L_k(0)` is a task's
first nonzero loss (a task with no in-space rows in the first batch, PLE eq 9, has none);
the losses carry ω_k(t), so a PLE eq 10 decay also shows in L̃_k.

Example:

>>> balancer = GradNorm(["ctr", "cvr"], alpha=1.5, learning_rate=0.05)
>>> g = keras.ops.convert_to_tensor([[3.0, 4.0], [0.6, 0.8]])   # [K=2, D=2], both shared
>>> _ = balancer.combine_gradients([g], [1.0, 1.0])   # step 0: L(0) = L, r = 1
>>> [round(float(w), 2) for w in balancer.loss_weights()]   # G = (5, 1): ctr down, cvr up
[0.83, 1.17]
"""

from __future__ import annotations

import keras
from keras import ops

from tfmtl.balancing.base import GradientBalancer, flat, shared_entries, unflat


@keras.saving.register_keras_serializable(package="tfmtl")
class GradNorm(GradientBalancer):
    """Task weights adapted so the weighted gradient norms follow the tasks' training rates (eq 2).

    Args:
        tasks: list of task names, in the model's task order.
        alpha: float. The asymmetry α ≥ 0 (eq 2): 0 pulls all norms to their mean, larger
            values favour the tasks whose loss falls slowest. Defaults to `1.5` (the paper
            tunes α per benchmark within (0, 3]; tune it per task set).
        learning_rate: float > 0. Step size of the weights' gradient step (the paper's
            Algorithm 1 step on w). Defaults to `0.025`: a step moves w_k by 0.025 per unit
            of gradient norm, a few percent at typical recommender norms.
    """

    strategy = "gradnorm"

    def __init__(self, tasks, alpha: float = 1.5, learning_rate: float = 0.025, **kwargs):
        super().__init__(tasks, **kwargs)
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or alpha < 0:
            raise ValueError(
                f"GradNorm's alpha must be a number >= 0 (eq 2's α). Received: alpha={alpha!r}"
            )
        if (
            not isinstance(learning_rate, (int, float))
            or isinstance(learning_rate, bool)
            or learning_rate <= 0
        ):
            raise ValueError(
                "GradNorm's learning_rate must be a number > 0. "
                f"Received: learning_rate={learning_rate!r}"
            )
        self.alpha, self.learning_rate = float(alpha), float(learning_rate)
        num_tasks = len(self.tasks)
        self.task_weights = self.add_weight(
            shape=(num_tasks,),
            name="task_weights",
            dtype="float32",
            initializer="ones",
            trainable=False,
        )
        self.initial_losses = self.add_weight(
            shape=(num_tasks,),
            name="initial_losses",
            dtype="float32",
            initializer="zeros",
            trainable=False,
        )

    def loss_weights(self) -> list:
        w = ops.convert_to_tensor(self.task_weights)
        return [w[k] for k in range(len(self.tasks))]

    def combine_gradients(self, task_gradients: list, losses) -> list:
        g = ops.cast(flat(task_gradients), "float32")  # [K, D]
        num_tasks = len(self.tasks)
        w = ops.convert_to_tensor(self.task_weights)
        losses = ops.stack([ops.cast(loss, "float32") for loss in losses])  # [K]
        initial = ops.convert_to_tensor(self.initial_losses)
        initial = ops.where(initial > 0.0, initial, losses)  # L_k(0): the first nonzero loss
        self.initial_losses.assign(initial)
        shared = ops.cast(shared_entries(g), "float32")[None, :]
        norms = ops.sqrt(ops.sum(ops.square(g * shared), axis=1))  # ||∇_W L_k||, [K]
        grad_norms = w * norms  # G_k
        ratio = ops.divide_no_nan(losses, initial)  # L̃_k
        rate = ops.divide_no_nan(ratio, ops.mean(ratio))  # r_k
        target = ops.mean(grad_norms) * ops.power(rate, self.alpha)  # held constant (eq 2)
        d_weights = ops.sign(grad_norms - target) * norms
        new_w = ops.maximum(w - self.learning_rate * d_weights, 1e-3)
        # Σ_k w_k(t) g_k, taken before the assignment (an eager TF read of w is not a snapshot).
        update = unflat(ops.sum(w[:, None] * g, axis=0), task_gradients)
        self.task_weights.assign(new_w * num_tasks / ops.sum(new_w))
        return update

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "learning_rate": self.learning_rate}
