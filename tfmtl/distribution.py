"""Training past one device on the engines Keras 3 has: `tf.distribute` and `keras.distribution`.

`training.distribution` in the run config (`tfmtl train --distribution`) names one of:

- `none`: one device, as Keras picks it.
- `mirrored`: TensorFlow's `MirroredStrategy` over every local device (GPUs, or the logical
  CPU devices a test configures): the model's variables are mirrored and each step's batch is
  split across the devices, gradients all-reduced.
- `multi_worker`: TensorFlow's `MultiWorkerMirroredStrategy`, each worker a process started
  with its own `TF_CONFIG` (the cluster's `worker` addresses and this one's `task.index`).
- `jax_data_parallel`: `keras.distribution.DataParallel` over every device of every JAX
  process: with several processes, each sets Keras' `KERAS_DISTRIBUTION_JOB_ADDRESSES` (the
  coordinator first), `KERAS_DISTRIBUTION_NUM_PROCESSES` and `KERAS_DISTRIBUTION_PROCESS_ID`,
  and `keras.distribution.initialize()` connects them before the first step.
- `jax_model_parallel`: as `jax_data_parallel` across hosts, with every embedding table's
  rows split over each host's devices (`tfmtl.embedding_sharding`).

`scope(name)` is the context a model is built, compiled and fitted in; the batch size a run
config gives is the GLOBAL batch (every replica together), so the same config trains the same
steps on one device or many. Only the chief (`is_chief()`) writes the run's files.

Example:

>>> with scope("none") as active:
...     active.name, active.num_replicas
('none', 1)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os

# The names only: the run config checks them without importing Keras.
DISTRIBUTIONS = ("none", "mirrored", "multi_worker", "jax_data_parallel", "jax_model_parallel")
_BACKEND = {
    "mirrored": "tensorflow",
    "multi_worker": "tensorflow",
    "jax_data_parallel": "jax",
    "jax_model_parallel": "jax",
}


@dataclasses.dataclass(frozen=True)
class Active:
    """The distribution a block runs under: its name, replica count, and the TF strategy if any."""

    name: str
    num_replicas: int = 1
    strategy: object = None


def check(name: str) -> str:
    """`name` if it is a distribution this Keras backend runs, else a one-line `ValueError`."""
    if name not in DISTRIBUTIONS:
        raise ValueError(
            f"training.distribution: unknown {name!r}; choose one of: {', '.join(DISTRIBUTIONS)}."
        )
    import keras

    wanted, backend = _BACKEND.get(name), keras.backend.backend()
    if wanted is not None and wanted != backend:
        raise ValueError(
            f"training.distribution: {name} runs on the {wanted} backend, and Keras runs on "
            f"{backend}: set KERAS_BACKEND={wanted}."
        )
    return name


@contextlib.contextmanager
def scope(name: str = "none"):
    """Build, compile and fit inside this: yields the `Active` distribution."""
    check(name)
    if name == "none":
        yield Active("none")
    elif name in ("mirrored", "multi_worker"):
        strategy = _tf_strategy(name)
        with strategy.scope():
            yield Active(name, int(strategy.num_replicas_in_sync), strategy)
    else:
        import keras

        previous = keras.distribution.distribution()
        if _jax_processes() > 1 and not _jax_initialized():
            keras.distribution.initialize()
        keras.distribution.set_distribution(_jax_distribution(name))
        try:
            yield Active(name, len(keras.distribution.list_devices()))
        finally:
            keras.distribution.set_distribution(previous)


def even_batches() -> bool:
    """True where every process must see whole, equal batches: JAX over several processes.

    There Keras splits each global batch between the processes, so a short last batch, or a
    validation split of one batch, would leave a process without its part, waiting.
    """
    import keras

    return (
        keras.backend.backend() == "jax"
        and keras.distribution.distribution() is not None
        and _jax_processes() > 1
    )


def local(model):
    """`model`, or, after JAX training over several processes, a copy with the same weights on
    this process alone, which predicts and saves without the other processes.

    Call it outside `scope`: the copy's variables are made where no distribution is set.
    """
    import keras

    if keras.backend.backend() != "jax" or _jax_processes() == 1:
        return model
    copy = model.__class__.from_config(model.get_config())
    copy.set_weights(model.get_weights())  # replicated on every process: each holds them all
    return copy


def worker_index() -> int:
    """This process's rank: 0 for the chief (the only process, `TF_CONFIG`'s chief or worker 0,
    or JAX process 0), then 1, 2, ...
    """
    if os.environ.get("TF_CONFIG"):
        config = json.loads(os.environ["TF_CONFIG"])
        task = config.get("task", {})
        if task.get("type") == "chief":
            return 0
        return int(task.get("index", 0)) + (1 if config.get("cluster", {}).get("chief") else 0)
    return int(os.environ.get("KERAS_DISTRIBUTION_PROCESS_ID", "0"))


def is_chief() -> bool:
    """True in the process that writes the run's files."""
    return worker_index() == 0


def _tf_strategy(name: str):
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if not os.environ.get("TF_CONFIG"):
        raise ValueError(
            "training.distribution: multi_worker reads the cluster from TF_CONFIG, which is not "
            'set; e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:2222", "host2:2222"]}, '
            '"task": {"type": "worker", "index": 0}}\' (see docs/distributed.md).'
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


def _jax_distribution(name: str):
    import keras

    if name == "jax_model_parallel":
        from tfmtl.embedding_sharding import RowShardedEmbeddings, host_mesh

        return RowShardedEmbeddings(host_mesh())
    return keras.distribution.DataParallel(devices=keras.distribution.list_devices())


def _jax_processes() -> int:
    return int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1"))


def _jax_initialized() -> bool:
    import jax.distributed

    return jax.distributed.is_initialized()
