"""Flat models around a registered switcher: `make_switcher` and `build_model`.

The switchers and their defaults are registered once, in `tfmtl.models.registry`.

Example:

>>> columns = {"x0": np.arange(8.0), "x1": np.ones(8)}
>>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0"), tfmtl.DenseFeature("x1")]).adapt(columns)
>>> model = build_model("ple", spec, [tfmtl.Task("ctr"), tfmtl.Task("cvr")], num_task_experts=2)
>>> model.get_layer("ple").num_task_experts, sorted(model.output)
(2, ['ctr', 'cvr'])
>>> sorted(available_models())[:3]
['adatt', 'adatt_sp', 'asymmetric']
"""

from __future__ import annotations

from tfmtl.layers.switcher import Switcher
from tfmtl.models.flat import build_flat
from tfmtl.models.registry import available_switchers, register_switcher, switcher_factory

__all__ = [
    "available_models",
    "build_model",
    "default_hparams",
    "make_switcher",
    "register_switcher",
]


def available_models() -> list[str]:
    return available_switchers()


def default_hparams(name: str) -> dict:
    return switcher_factory(name)[1]


def make_switcher(
    name: str, num_outputs: int, layer_name: str | None = None, **hparams
) -> Switcher:
    """Switcher `name` with `num_outputs` outputs, its defaults overridden by `hparams`.

    The layer is named `layer_name` (default: `name`).
    """
    factory, defaults = switcher_factory(name)
    unknown = sorted(set(hparams) - set(defaults))
    if unknown:
        raise ValueError(
            f"Model '{name}' has no hyper-parameter(s) {unknown}. It takes: {sorted(defaults)}"
        )
    return factory(num_outputs, name=layer_name or name, **{**defaults, **hparams})


def build_model(name: str, spec, tasks, lookup: bool = True, **hparams):
    """A flat multi-task model around switcher `name` (see `build_flat`)."""
    switcher = make_switcher(name, len(list(tasks)), **hparams)
    metadata = {"model": name, "hparams": {**default_hparams(name), **hparams}}
    return build_flat(spec, tasks, switcher, lookup=lookup, name=name, metadata=metadata)
