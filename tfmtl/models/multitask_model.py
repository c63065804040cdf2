"""MultiTaskModel: a functional keras.Model that knows its tasks and features."""

from __future__ import annotations

import keras

import tfmtl.losses  # noqa: F401  (a compiled model's .keras file names MaskedLoss,
import tfmtl.metrics  # noqa: F401  MaskedAUC and MaskedMSE: register them before loading)
from tfmtl.features import FeatureSpec
from tfmtl.models.precision import dtype_policy
from tfmtl.tasks import Task, check_tasks


@keras.saving.register_keras_serializable(package="tfmtl")
class MultiTaskModel(keras.Model):
    """A functional model (dict of raw features -> dict of task heads) that carries its tasks.

    The tasks (and any builder metadata, e.g. facet groups) ride in `get_config()`, so a
    `.keras` file and the exported SavedModel's metadata both know every head's kind.

    Args:
        inputs, outputs: as for `keras.Model`; outputs is a dict keyed by task name.
        tasks: list of `Task` (or their configs), one per output.
        metadata: dict. JSON-able extras from the builder (e.g. facet groups, model name).
            `dtype_policy` records the Keras dtype policy the layers were built under, so a
            `.keras` file loads with the same policy (layers create sublayers under the
            global one) wherever it is loaded.
    """

    def __init__(self, *args, tasks=(), metadata=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.tasks = check_tasks(t if isinstance(t, Task) else Task.from_config(t) for t in tasks)
        self.metadata = dict(metadata or {})
        self.metadata.setdefault("dtype_policy", keras.config.dtype_policy().name)
        self.balancer = None
        heads = self.output.keys() if isinstance(self.output, dict) else ()
        missing = sorted(set(t.name for t in self.tasks) ^ set(heads))
        if missing:
            raise ValueError(
                f"Model outputs and tasks differ on {missing}: one output per task, named after it."
            )

    @property
    def feature_spec(self) -> FeatureSpec:
        from tfmtl.layers.embedding import FeatureEmbedding

        for layer in self._flatten_layers(include_self=False):
            if isinstance(layer, FeatureEmbedding):
                return layer.spec
        raise ValueError(f"Model '{self.name}' has no FeatureEmbedding layer, so no feature spec.")

    def set_balancer(self, balancer) -> None:
        """Train with `balancer` (a `tfmtl.balancing.LossBalancer`, or None for the compiled
        losses' sum).

        Set before the optimizer is built (`tfmtl.training.compile_multitask` does): the
        balancer's variables train with the model's.
        """
        if balancer is not None and list(balancer.tasks) != [t.name for t in self.tasks]:
            raise ValueError(
                f"The balancer's tasks {balancer.tasks} are not the model's "
                f"{[t.name for t in self.tasks]} in order."
            )
        self.balancer = balancer

    def task_losses(self, y, y_pred) -> list:
        """Each task's compiled loss `ω_k(t) · masked mean` (PLE eq 9, 10), in task order."""
        return [self.loss[t.name](y[t.name], y_pred[t.name]) for t in self.tasks]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if self.balancer is None:
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        losses = self.task_losses(y, y_pred)
        self.balancer.track(losses)
        total = self.balancer.combine(losses, training=training)
        for extra in self.losses:  # regularisers and add_loss terms
            total = total + self._aggregate_additional_loss(extra)
        return total

    def train_step(self, *args):
        if self.balancer is not None and self.balancer.needs_task_gradients:
            from tfmtl.balancing.gradient_step import train_step

            return _multi_worker_logs(train_step(self, *args))
        return _multi_worker_logs(super().train_step(*args))

    def test_step(self, *args):
        return _multi_worker_logs(super().test_step(*args))

    if keras.backend.backend() == "tensorflow":

        def _maybe_symbolic_build(self, iterator=None, data_batch=None):
            # Under a tf.distribute strategy, Keras' TF trainer learns the batch's structure by
            # averaging the first batch over the replicas, which fails for string features
            # (AddN has no string kernel). One replica's batch has the same structure.
            if iterator is not None and self._distribute_strategy is not None:
                for _, _, it in iterator:
                    data_batch = keras.tree.map_structure(_one_replica, next(it))
                    break
            return super()._maybe_symbolic_build(data_batch=data_batch)

    def get_config(self):
        config = {
            **super().get_config(),
            "tasks": [t.to_config() for t in self.tasks],
            "metadata": self.metadata,
        }
        if self.balancer is not None:
            config["balancer"] = keras.saving.serialize_keras_object(self.balancer)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        balancer = config.pop("balancer", None)
        policy = (
            dict(config.get("metadata") or {}).get("dtype_policy")
            or keras.config.dtype_policy().name
        )
        with dtype_policy(policy):
            model = super().from_config(config, custom_objects=custom_objects)
        if balancer is not None:
            from tfmtl.balancing import load_strategies

            load_strategies()
            model.set_balancer(
                keras.saving.deserialize_keras_object(balancer, custom_objects=custom_objects)
            )
        return model


def _multi_worker_logs(logs):
    """Scalar logs as one-element vectors under a multi-worker `tf.distribute` strategy.

    There Keras' TF trainer reduces every log with `strategy.reduce("MEAN", log, axis=0)`,
    which fails on a scalar ("Invalid reduction dimension 0"); each replica's log is the same
    synchronised metric value, so the mean of its one-element vector is that value.
    """
    if keras.backend.backend() != "tensorflow":
        return logs
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    if not (
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and strategy.extended._in_multi_worker_mode()
    ):
        return logs
    return {
        name: tf.reshape(value, [1]) if value.shape.rank == 0 else value
        for name, value in logs.items()
    }


def _one_replica(value):
    """The first replica's part of a `tf.distribute.DistributedValues` (else `value`)."""
    import tensorflow as tf

    if isinstance(value, tf.distribute.DistributedValues):
        return value.values[0]
    return value
