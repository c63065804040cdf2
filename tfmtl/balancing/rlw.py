"""Random loss weighting (Lin, Ye, Xu, Shi & Zhang, TMLR'22): fresh random task weights every step.

Each training step draws `ε ~ p(ε)` and weights the task losses by `λ = softmax(ε)`, so the
total is `Σ_k λ_k L_k` with `Σ_k λ_k = 1` (the paper's RLW objective with its softmax
normalisation `λ = f(ε)`, as its LibMTL code draws it); the paper finds this random scheme as
good as most learnt ones, and that it escapes poor local minima more readily. The draws use
`keras.random` with the layer's own `keras.random.SeedGenerator`, whose state is a
non-trainable variable: the step stays a pure function under `jax.jit` and XLA, and a fixed
seed repeats the same weights. That state is saved with the layer's variables, so a reloaded
`.keras` file or a run resumed by `keras.callbacks.BackupAndRestore` continues the sequence
rather than restarting it.
"""

from __future__ import annotations

import keras
from keras import ops

from tfmtl.balancing.base import LossBalancer

DISTRIBUTIONS = ("normal", "uniform")
_SEED_STATE = "seed_generator_state"


@keras.saving.register_keras_serializable(package="tfmtl")
class RandomLossWeighting(LossBalancer):
    """Task weights `λ = softmax(ε)`, drawn anew each training step (Lin et al., RLW).

    `combine(losses, training=True)` draws `ε` (`"normal"`: N(0, I); `"uniform"`: U(0, 1)
    per task, the paper's variants), returns `Σ_k λ_k L_k` and keeps that λ in the
    non-trainable `last_weights`, which `loss_weights()` reports (logged per epoch: the last
    step's λ). With `training=False` every task weighs `1/K`, so the validation loss is the
    same on every evaluation.

    Differs from the paper: the evaluation loss uses the mean weights `1/K` (the paper only
    trains with random weights); λ multiplies each task's own `ω_k(t)` (PLE eq 10); the
    weights are not rescaled, so the total is about `1/K` of the plain sum `Σ_k L_k` (as in
    the paper's code), and a learning rate tuned on the sum may need raising; the paper's
    other samplers (Dirichlet, Bernoulli, ...) are left out.

    Args:
        tasks: list of task names, in the model's task order.
        distribution: str. What `ε` is drawn from: `"normal"` (N(0, I)) or `"uniform"`
            (U(0, 1)). Defaults to `"normal"`.
        seed: int or None. Seed of the layer's `keras.random.SeedGenerator`; None draws one
            from Keras' global seed. Defaults to `0`.

    Example:

    >>> balancer = RandomLossWeighting(["ctr", "cvr", "watch"], seed=0)
    >>> losses = [keras.ops.convert_to_tensor(v) for v in (0.3, 0.6, 0.9)]
    >>> round(float(balancer.combine(losses)), 4)            # evaluation: mean weights 1/K
    0.6
    >>> total = balancer.combine(losses, training=True)       # a training step draws λ
    >>> weights = [float(w) for w in balancer.loss_weights()]
    >>> round(sum(weights), 4), all(w > 0 for w in weights)
    (1.0, True)
    >>> round(float(total), 4) == round(sum(w * v for w, v in zip(weights, (0.3, 0.6, 0.9))), 4)
    True
    """

    strategy = "rlw"

    def __init__(self, tasks, distribution: str = "normal", seed: int | None = 0, **kwargs):
        super().__init__(tasks, **kwargs)
        if distribution not in DISTRIBUTIONS:
            raise ValueError(
                f"RandomLossWeighting draws its weights from one of {list(DISTRIBUTIONS)}. "
                f"Received: distribution={distribution!r}."
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(
                f"RandomLossWeighting needs an int seed (or None). Received: seed={seed!r}."
            )
        self.distribution, self.seed = distribution, seed
        num_tasks = len(self.tasks)
        self.seed_generator = keras.random.SeedGenerator(seed, name="seed_generator")
        self.last_weights = self.add_weight(
            shape=(num_tasks,),
            name="last_weights",
            dtype="float32",
            trainable=False,
            initializer=keras.initializers.Constant(1.0 / num_tasks),
        )

    def combine(self, losses, training: bool = False):
        stacked = ops.stack([ops.cast(loss, "float32") for loss in losses])
        if not training:
            return ops.mean(stacked)
        shape = (len(self.tasks),)
        if self.distribution == "normal":
            noise = keras.random.normal(shape, seed=self.seed_generator, dtype="float32")
        else:
            noise = keras.random.uniform(shape, seed=self.seed_generator, dtype="float32")
        weights = ops.stop_gradient(ops.softmax(noise))
        self.last_weights.assign(weights)
        return ops.sum(weights * stacked)

    def loss_weights(self) -> list:
        weights = ops.cast(self.last_weights, "float32")
        return [weights[i] for i in range(len(self.tasks))]

    def save_own_variables(self, store):
        # Keras saves a layer's own variables only, not its SeedGenerator's state: keep it too,
        # so a reloaded model (or a run resumed by BackupAndRestore) continues the λ sequence.
        super().save_own_variables(store)
        store[_SEED_STATE] = self.seed_generator.state

    def load_own_variables(self, store):
        own = self._trainable_variables + self._non_trainable_variables
        if len(store.keys()) != len(own) + (_SEED_STATE in store):
            raise ValueError(
                f"RandomLossWeighting '{self.name}' has {len(own)} variables and a seed state, "
                f"but the file holds {sorted(store.keys())}."
            )
        for i, v in enumerate(own):
            v.assign(store[f"{i}"])
        if _SEED_STATE in store:
            self.seed_generator.state.assign(store[_SEED_STATE])

    def get_config(self):
        return {**super().get_config(), "distribution": self.distribution, "seed": self.seed}
