"""MultiTaskModel: a functional keras.Model that knows its tasks and features."""

from __future__ import annotations

import keras

from tfmtl.features import FeatureSpec
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
        heads = self.output.keys() if isinstance(self.output, dict) else ()
        missing = sorted(set(t.name for t in self.tasks) ^ set(heads))
        if missing:
            raise ValueError(f"Model outputs and tasks differ on {missing}: one output per task, named after it.")

    @property
    def feature_spec(self) -> FeatureSpec:
        from tfmtl.layers.embedding import FeatureEmbedding

        for layer in self._flatten_layers(include_self=False):
            if isinstance(layer, FeatureEmbedding):
                return layer.spec
        raise ValueError(f"Model '{self.name}' has no FeatureEmbedding layer, so no feature spec.")

    def get_config(self):
        return {**super().get_config(), "tasks": [t.to_config() for t in self.tasks], "metadata": self.metadata}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from tfmtl.training import dtype_policy

        policy = dict(config.get("metadata") or {}).get("dtype_policy") or keras.config.dtype_policy().name
        with dtype_policy(policy):
            return super().from_config(config, custom_objects=custom_objects)
