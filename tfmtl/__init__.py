"""tfmtl: multi-task recommender rankers in Keras 3, from tf.data to TF Serving.

>>> import tfmtl
>>> model = tfmtl.models.build_model("ple", spec, tasks)

`Task` and the feature classes need only numpy; every other package loads on first use
(`tfmtl.models`, `tfmtl.data`, ...), so `import tfmtl` and the `tfmtl` command stay fast.
"""

from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec, SequenceFeature
from tfmtl.tasks import Task

__version__ = "0.1.0"

__all__ = [
    "CategoricalFeature",
    "DenseFeature",
    "FeatureSpec",
    "SequenceFeature",
    "Task",
    "callbacks",
    "layers",
    "losses",
    "metrics",
    "models",
]
_LAZY = (
    "callbacks",
    "layers",
    "losses",
    "metrics",
    "models",
    "data",
    "training",
    "config",
    "export",
    "serving",
    "cli",
)


def __getattr__(name):
    import importlib

    if name in _LAZY:
        return importlib.import_module(f"tfmtl.{name}")
    raise AttributeError(f"module 'tfmtl' has no attribute {name!r}")
