"""tfmtl: multi-task recommender rankers in Keras 3, from tf.data to TF Serving.

>>> import tfmtl
>>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("price"),
...                           tfmtl.CategoricalFeature("city", vocabulary=("a", "b"))])
>>> tasks = [tfmtl.Task("click"), tfmtl.Task("buy", sample_space="click == 1")]
>>> model = tfmtl.models.build_model("ple", spec, tasks)
>>> sorted(model.output)
['buy', 'click']

`Task` and the feature classes need only numpy; every other library package loads on first
use (`tfmtl.models`, `tfmtl.data`, ...), so `import tfmtl` and the `tfmtl` command stay fast.
`tfmtl.export`, `tfmtl.serving` and `tfmtl.cli` build on the library and are imported by their
full path (`import tfmtl.serving`): the package root does not reach up into them.
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
)


def __getattr__(name):
    import importlib

    if name in _LAZY:
        return importlib.import_module(f"tfmtl.{name}")
    raise AttributeError(f"module 'tfmtl' has no attribute {name!r}")
