"""tfmtl: multi-task recommender rankers in Keras 3, from tf.data to TF Serving.

>>> import tfmtl
>>> model = tfmtl.models.build_model("ple", spec, tasks)
"""

from tfmtl import callbacks, layers, losses, metrics, models
from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec, SequenceFeature
from tfmtl.tasks import Task

__version__ = "0.1.0"

__all__ = [
    "CategoricalFeature", "DenseFeature", "FeatureSpec", "SequenceFeature", "Task",
    "callbacks", "layers", "losses", "metrics", "models",
]


def __getattr__(name):
    # The TensorFlow-side packages load on first use, so `import tfmtl` stays light.
    import importlib

    if name in ("data", "training", "export", "serving", "cli"):
        return importlib.import_module(f"tfmtl.{name}")
    raise AttributeError(f"module 'tfmtl' has no attribute {name!r}")
