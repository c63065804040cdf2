"""Under `jax_model_parallel` on 2 devices: which tables are split, and do outputs and training
match one device? Run as a script with KERAS_BACKEND=jax and
XLA_FLAGS=--xla_force_host_platform_device_count=2; prints one JSON line.
"""

import json


def data_with_tables():
    """2,560 rows; `item` has 15 values (16 rows with the OOV row), `segment` 4 (5 rows)."""
    import numpy as np

    from tfmtl import CategoricalFeature, DenseFeature, FeatureSpec, Task
    from tfmtl.data import build_splits, split_indices

    rng = np.random.default_rng(0)
    n = 2560
    item, segment, x = rng.integers(0, 15, n), rng.integers(0, 4, n), rng.normal(size=n)
    columns = {
        "item": np.asarray([f"i{v}" for v in item], object),
        "segment": np.asarray([f"s{v}" for v in segment], object),
        "x": x.astype("float32"),
        "click": (rng.random(n) < 1 / (1 + np.exp(-(x + item / 7 - 1)))).astype("float32"),
        "like": (rng.random(n) < 1 / (1 + np.exp(-(segment - 1.5)))).astype("float32"),
    }
    spec = FeatureSpec(
        [CategoricalFeature("item", 4), CategoricalFeature("segment", 4), DenseFeature("x")]
    )
    tasks = [Task("click", label="click"), Task("like", label="like")]
    return build_splits(columns, spec, tasks, split_indices(n, 0), "tables").encoded()


def main() -> dict:
    import numpy as np

    from tfmtl import distribution, training
    from tfmtl.embedding_sharding import is_table
    from tfmtl.models import registry

    data = data_with_tables()
    config = {"family": "ple", "expert_units": [8]}
    models, losses = {}, {}
    for name in ("none", "jax_model_parallel"):
        training.set_seed(0)
        with distribution.scope(name):
            model = registry.build(config, data.spec, data.tasks, lookup=False)
            training.compile_multitask(model)
            history = training.fit(model, data, epochs=2, batch_size=256, verbose=0)
        models[name], losses[name] = model, history.history["loss"]
    x = {k: v[:64] for k, v in data["test"].features.items()}
    want, got = models["none"](x), distribution.local(models["jax_model_parallel"])(x)
    tables = {
        v.path: [int(v.shape[0]), int(v.value.addressable_shards[0].data.shape[0])]
        for v in models["jax_model_parallel"].weights
        if is_table(v)
    }
    diff = max(float(np.abs(np.asarray(got[t]) - np.asarray(want[t])).max()) for t in want)
    return {"tables": tables, "max_abs_diff": diff, "losses": losses}


if __name__ == "__main__":  # pytest's doctest collection imports this file: do nothing then
    print(json.dumps(main()))
