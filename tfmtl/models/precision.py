"""`dtype_policy`: build models under a Keras dtype policy, then restore the global one."""

from __future__ import annotations

import contextlib

import keras


@contextlib.contextmanager
def dtype_policy(name: str):
    """Build models under the Keras dtype policy `name`, then restore the previous global one.

    Layers keep the policy they were built with; under `"mixed_bfloat16"` they compute in
    bfloat16 with float32 weights, and task heads stay float32 (docs/backends.md).

    >>> with dtype_policy("mixed_bfloat16"):
    ...     layer = keras.layers.Dense(2)
    >>> layer.dtype_policy.name, keras.config.dtype_policy().name
    ('mixed_bfloat16', 'float32')
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
