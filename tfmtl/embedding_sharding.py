"""Embedding tables split by rows over devices: `training.distribution: jax_model_parallel`.

A table too large for one device's memory is the usual reason a ranker outgrows data
parallelism. `RowShardedEmbeddings` is Keras' `ModelParallel` on a `(batch, model)` device
mesh whose every `keras.layers.Embedding` table has its rows split over the `model` axis
(device d holds rows `d·V/M .. (d+1)·V/M`), while every other variable is replicated and each
batch is split over the `batch` axis. The mesh puts one host's devices on `model` (lookups
gather over the fast local links) and the hosts on `batch`. A table whose row count the
`model` axis does not divide stays whole on every device (JAX shards evenly only); size the
large ones to a multiple (`num_hash_bins`, or a vocabulary cut to one).
"""

from __future__ import annotations

import keras
from keras.distribution import DeviceMesh, LayoutMap, ModelParallel, TensorLayout


class RowShardedEmbeddings(ModelParallel):
    """`ModelParallel` with every embedding table split by rows over the mesh's `model` axis.

    Args:
        device_mesh: a `keras.distribution.DeviceMesh` with axes `("batch", "model")`.
    """

    def __init__(self, device_mesh: DeviceMesh, **kwargs):
        super().__init__(layout_map=LayoutMap(device_mesh), batch_dim_name="batch", **kwargs)

    def get_variable_layout(self, variable):
        shards = self.device_mesh.shape[self.device_mesh.axis_names.index("model")]
        if is_table(variable) and variable.shape[0] % shards == 0:
            return TensorLayout(("model", None), self.device_mesh)
        return super().get_variable_layout(variable)  # replicated


def is_table(variable) -> bool:
    """True for the `[rows, dim]` table of a `keras.layers.Embedding`."""
    return variable.path.endswith("/embeddings") and len(variable.shape) == 2


def host_mesh() -> DeviceMesh:
    """Every process's devices as a `(batch, model)` mesh: one row of `model` per host."""
    import jax

    devices = keras.distribution.list_devices()
    return DeviceMesh(
        shape=(jax.process_count(), len(devices) // jax.process_count()),
        axis_names=("batch", "model"),
        devices=devices,
    )
