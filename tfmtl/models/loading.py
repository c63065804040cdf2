"""Loading a `.keras` file written by tfmtl: every serializable tfmtl class registered first."""

from __future__ import annotations


def load_model(path):
    """`keras.saving.load_model(path)` after importing the layers, losses, metrics and models.

    `import tfmtl` loads its packages lazily, so nothing may be registered yet when a
    process only wants to read a model file (`tfmtl evaluate`, `tfmtl export`)."""
    import keras

    import tfmtl.layers  # noqa: F401
    import tfmtl.losses  # noqa: F401
    import tfmtl.metrics  # noqa: F401
    import tfmtl.models.multitask_model  # noqa: F401

    return keras.saving.load_model(path)
