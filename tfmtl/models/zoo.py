"""The zoo: switchers by name, with default hyper-parameters, and `build_model`.

Example:

>>> model = build_model("ple", spec, tasks, num_task_experts=2)
>>> sorted(available_models())[:3]
['cgc', 'ml_mmoe', 'mmoe']
"""

from __future__ import annotations

from typing import Callable

from tfmtl.layers.adatt import AdaTT, AdaTTSp
from tfmtl.layers.asymmetric import AsymmetricSharing
from tfmtl.layers.cross_stitch import CrossStitch
from tfmtl.layers.customized import CustomizedSharing
from tfmtl.layers.mmoe import MLMMoE, MMoE, OMoE
from tfmtl.layers.sluice import Sluice
from tfmtl.layers.ple import CGC, PLE
from tfmtl.layers.shared_bottom import SharedBottom, SingleTask
from tfmtl.layers.switcher import Switcher
from tfmtl.models.flat import build_flat

_ZOO: dict[str, tuple[Callable[..., Switcher], dict]] = {}


def register_switcher(name: str, factory: Callable[..., Switcher], defaults: dict) -> None:
    """Add a switcher to the zoo: `factory(num_outputs, **hparams)` with these defaults."""
    _ZOO[name] = (factory, dict(defaults))


def available_models() -> list[str]:
    return sorted(_ZOO)


def default_hparams(name: str) -> dict:
    return dict(_lookup(name)[1])


def make_switcher(name: str, num_outputs: int, return_gates: bool = False, **hparams) -> Switcher:
    """Instantiate zoo switcher `name` with its defaults overridden by `hparams`."""
    factory, defaults = _lookup(name)
    unknown = sorted(set(hparams) - set(defaults))
    if unknown:
        raise ValueError(f"Model '{name}' has no hyper-parameter(s) {unknown}. It takes: {sorted(defaults)}")
    kwargs = {**defaults, **hparams}
    if name in ("single_task", "shared_bottom"):
        return factory(num_outputs, name=name, **kwargs)
    return factory(num_outputs, return_gates=return_gates, name=name, **kwargs)


def build_model(name: str, spec, tasks, lookup: bool = True, return_gates: bool = False, **hparams):
    """A flat multi-task model around zoo switcher `name` (see `build_flat`)."""
    switcher = make_switcher(name, len(list(tasks)), return_gates=return_gates, **hparams)
    metadata = {"model": name, "hparams": {**default_hparams(name), **hparams}}
    return build_flat(spec, tasks, switcher, lookup=lookup, name=name, metadata=metadata)


def _lookup(name: str):
    if name not in _ZOO:
        raise ValueError(f"Unknown model '{name}'. Choose one of: {', '.join(available_models())}")
    return _ZOO[name]


register_switcher("single_task", SingleTask, {"units": [128, 64]})
register_switcher("shared_bottom", SharedBottom, {"units": [128, 64]})
register_switcher("omoe", OMoE, {"num_experts": 8, "expert_units": [128, 64]})
register_switcher("mmoe", MMoE, {"num_experts": 8, "expert_units": [128, 64]})
register_switcher("ml_mmoe", MLMMoE, {"num_experts": 6, "expert_units": [[128], [64]], "num_levels": 2})
register_switcher(
    "cgc", CGC, {"num_task_experts": 2, "num_shared_experts": 2, "expert_units": [128, 64]}
)
register_switcher(
    "ple",
    PLE,
    {"num_task_experts": 2, "num_shared_experts": 2, "expert_units": [[128], [64]], "num_levels": 2},
)
# Issue 6: AdaTT (KDD'23) and the classic soft/asymmetric sharing baselines.
register_switcher(
    "adatt",
    AdaTT,
    {"num_task_experts": 2, "num_shared_experts": 1, "expert_units": [[128], [64]], "num_levels": 2, "native_fusion": True},
)
register_switcher("adatt_sp", AdaTTSp, {"num_task_experts": 2, "expert_units": [[128], [64]], "num_levels": 2, "native_fusion": True})
register_switcher("cross_stitch", CrossStitch, {"units": [128, 64], "self_weight": 0.9})
register_switcher(
    "sluice",
    Sluice,
    {"units": [64, 64], "num_subspaces": 2, "self_weight": 0.9, "combine": "sum", "orthogonality_weight": 0.0},
)
register_switcher("asymmetric", AsymmetricSharing, {"units": [128, 64], "sources": None, "fusion": "sum"})
register_switcher("customized", CustomizedSharing, {"shared_units": [128, 64], "task_units": [64, 32]})
