"""tf.data pipelines: dict of raw feature columns + dict of labels -> batched, prefetched."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def to_dataset(
    features: dict,
    labels: dict | None = None,
    batch_size: int = 1024,
    shuffle: bool = False,
    seed: int = 0,
    cache: bool = True,
    drop_remainder: bool = False,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """`(features, labels)` batches for `model.fit`/`evaluate` (features only if `labels` is None).

    Columns become tensors once and are cached; with `shuffle`, rows are reshuffled every
    epoch (full-size buffer, fixed seed).
    With an `input_context` (tf.distribute) the data is sharded per input pipeline.

    Example:

    >>> ds = to_dataset({"age": np.arange(10.0)}, {"ctr": np.ones(10)}, batch_size=4)
    >>> [int(b[0]["age"].shape[0]) for b in ds]
    [4, 4, 2]
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1. Received: batch_size={batch_size}")
    lengths = {k: len(v) for k, v in {**features, **(labels or {})}.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"Columns differ in length: {lengths}")
    n = next(iter(lengths.values()))
    tensors = {k: _tensor(v) for k, v in features.items()}
    if labels is not None:
        tensors = (tensors, {k: np.asarray(v, np.float32) for k, v in labels.items()})
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    if input_context is not None:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
    # In-memory columns have no files to shard by: several workers split the batches' rows.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def _tensor(values):
    values = np.asarray(values)
    if values.dtype.kind in "UO":
        return tf.constant(values.astype(str))
    return values
