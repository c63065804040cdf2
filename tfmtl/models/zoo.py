"""Flat models around a registered switcher: `make_switcher` and `build_model`.

The switchers and their defaults are registered once, in `tfmtl.models.registry`.

Example:

>>> model = build_model("ple", spec, tasks, num_task_experts=2)
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


def make_switcher(name: str, num_outputs: int, return_gates: bool = False, **hparams) -> Switcher:
    """Instantiate switcher `name` with its defaults overridden by `hparams`."""
    factory, defaults = switcher_factory(name)
    unknown = sorted(set(hparams) - set(defaults))
    if unknown:
        raise ValueError(
            f"Model '{name}' has no hyper-parameter(s) {unknown}. It takes: {sorted(defaults)}"
        )
    kwargs = {**defaults, **hparams}
    if name in ("single_task", "shared_bottom"):
        return factory(num_outputs, name=name, **kwargs)
    return factory(num_outputs, return_gates=return_gates, name=name, **kwargs)


def build_model(name: str, spec, tasks, lookup: bool = True, return_gates: bool = False, **hparams):
    """A flat multi-task model around switcher `name` (see `build_flat`)."""
    switcher = make_switcher(name, len(list(tasks)), return_gates=return_gates, **hparams)
    metadata = {"model": name, "hparams": {**default_hparams(name), **hparams}}
    return build_flat(spec, tasks, switcher, lookup=lookup, name=name, metadata=metadata)
