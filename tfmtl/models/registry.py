"""Every model family by name, with its hyper-parameters: the one door to the zoo.

A model config is a dict (the run config's `model:`): `{"family": "ple", "num_levels": 2}`
(a switcher, flat: switcher -> one tower per task), `{"family": "mfh", "switcher": "ple"}`,
`{"family": "dml", "backbone": {"family": "mmoe", "num_experts": 4}}`, `{"family": "esmm"}`.
Where a family takes a switcher or backbone, give a switcher name or a switcher's config.
`resolve` checks a config and fills in every default without importing Keras; `build`
makes the model. Adding a family is its builder's file plus one `register_family` call.

Example:

>>> resolve({"family": "dml", "backbone": "mmoe"})["backbone"]
{'family': 'mmoe', 'num_experts': 8, 'expert_units': [128, 64]}
>>> model = build({"family": "mfh", "switcher": "ple"}, data.spec, data.tasks)   # doctest: +SKIP
"""

from __future__ import annotations

import copy
import dataclasses
import importlib

_SWITCHERS: dict[str, tuple] = {}  # name -> (factory or "module:Class", defaults)
_FAMILIES: dict[str, "Family"] = {}


@dataclasses.dataclass(frozen=True)
class Family:
    """A model family: `build(config, spec, tasks, return_gates)` ("module:function") and defaults.

    `nested`: the key holding a switcher config (`switcher` or `backbone`), if any.
    """

    name: str
    build: str
    defaults: dict
    nested: str | None = None


def register_switcher(name: str, factory, defaults: dict) -> None:
    """A switcher (`factory(num_outputs, **hparams)`, or its "module:Class" path) by name.

    It is a family of its own (flat: features -> switcher -> towers) and any family's switcher."""
    _SWITCHERS[name] = (factory, dict(defaults))


def register_family(name: str, build: str, defaults: dict, nested: str | None = None) -> None:
    """A family built by `build` ("module:function" taking `(config, spec, tasks, return_gates)`)."""
    _FAMILIES[name] = Family(name, build, dict(defaults), nested)


def available_switchers() -> list[str]:
    return sorted(_SWITCHERS)


def available_families() -> list[str]:
    return sorted({*_SWITCHERS, *_FAMILIES})


def family_defaults(name: str) -> dict:
    """The resolved config of family `name` with nothing overridden."""
    return resolve(name)


def switcher_factory(name: str):
    """The class (or callable) that makes switcher `name`, and its default hyper-parameters."""
    if name not in _SWITCHERS:
        raise ValueError(f"Unknown model '{name}'. Choose one of: {', '.join(available_switchers())}")
    factory, defaults = _SWITCHERS[name]
    return _load(factory) if isinstance(factory, str) else factory, dict(defaults)


def resolve(config, key: str = "model") -> dict:
    """`config` (a dict or a family name) checked, with every default filled in; a new dict.

    Errors are one-line `ValueError`s naming the key, e.g. `model.backbone.num_expert: ...`."""
    if isinstance(config, str):
        config = {"family": config}
    if not isinstance(config, dict):
        raise ValueError(f"{key}: a family name or a mapping with `family`; got {config!r}.")
    config = copy.deepcopy(config)
    name = config.pop("family", None)
    if name is None:
        raise ValueError(f"{key}.family: missing; choose one of: {', '.join(available_families())}.")
    if name in _SWITCHERS:
        defaults = _SWITCHERS[name][1]
        _check_keys(config, defaults, name, key)
        return {"family": name, **copy.deepcopy(defaults), **config}
    if name not in _FAMILIES:
        raise ValueError(f"{key}.family: unknown family {name!r}; choose one of: {', '.join(available_families())}.")
    family = _FAMILIES[name]
    if name == "flat":  # the switcher's hyper-parameters sit beside it
        switcher = config.pop("switcher", family.defaults["switcher"])
        resolved = resolve({**config, "family": switcher} if isinstance(switcher, str) else switcher, key)
        return {"family": "flat", "switcher": resolved.pop("family"), **resolved}
    _check_keys(config, family.defaults, name, key)
    out = {"family": name, **copy.deepcopy(family.defaults), **config}
    if family.nested and out[family.nested] is not None:
        inner = resolve(out[family.nested], f"{key}.{family.nested}")
        if inner["family"] == "flat":
            inner = {"family": inner.pop("switcher"), **{k: v for k, v in inner.items() if k != "family"}}
        if inner["family"] not in _SWITCHERS:
            raise ValueError(f"{key}.{family.nested}: {name} takes a switcher ({', '.join(available_switchers())}); "
                             f"got family {inner['family']!r}.")
        out[family.nested] = inner
    return out


def build(config, spec, tasks, return_gates: bool = False):
    """The model `config` describes, on an adapted `spec` and `tasks` (see the module docstring).

    Its `metadata` records `family` (the macro structure, e.g. "flat" or "mfh") and
    `model_config` (the resolved config)."""
    resolved = resolve(config)
    name = resolved["family"]
    if name in _SWITCHERS or name == "flat":
        model = build_flat_family(resolved, spec, tasks, return_gates)
        family = "flat"
    else:
        model = _load(_FAMILIES[name].build)(resolved, spec, tasks, return_gates)
        family = name
    model.metadata.update({"family": family, "model_config": resolved})
    return model


def split_switcher(config: dict) -> tuple[str, dict]:
    """A resolved switcher config -> `(name, hyper-parameters)`."""
    config = dict(config)
    return config.pop("family"), config


def build_flat_family(config: dict, spec, tasks, return_gates: bool):
    from tfmtl.models.zoo import build_model

    if config["family"] == "flat":
        config = {k: v for k, v in config.items() if k != "family"}
        config["family"] = config.pop("switcher")
    name, hparams = split_switcher(config)
    return build_model(name, spec, tasks, return_gates=return_gates, **hparams)


def _check_keys(config: dict, defaults: dict, name: str, key: str) -> None:
    unknown = sorted(set(config) - set(defaults))
    if unknown:
        raise ValueError(f"{key}.{unknown[0]}: {name} has no hyper-parameter {unknown[0]!r}; "
                         f"it takes: {', '.join(sorted(defaults)) or 'none'}.")


def _load(path: str):
    module, attribute = path.split(":")
    return getattr(importlib.import_module(module), attribute)


_UNITS = [128, 64]
for _name, _factory, _defaults in (
    ("single_task", "tfmtl.layers.shared_bottom:SingleTask", {"units": _UNITS}),
    ("shared_bottom", "tfmtl.layers.shared_bottom:SharedBottom", {"units": _UNITS}),
    ("omoe", "tfmtl.layers.mmoe:OMoE", {"num_experts": 8, "expert_units": _UNITS}),
    ("mmoe", "tfmtl.layers.mmoe:MMoE", {"num_experts": 8, "expert_units": _UNITS}),
    ("ml_mmoe", "tfmtl.layers.mmoe:MLMMoE", {"num_experts": 6, "expert_units": [[128], [64]], "num_levels": 2}),
    ("cgc", "tfmtl.layers.ple:CGC", {"num_task_experts": 2, "num_shared_experts": 2, "expert_units": _UNITS}),
    ("ple", "tfmtl.layers.ple:PLE",
     {"num_task_experts": 2, "num_shared_experts": 2, "expert_units": [[128], [64]], "num_levels": 2}),
    ("adatt", "tfmtl.layers.adatt:AdaTT", {"num_task_experts": 2, "num_shared_experts": 1,
                                           "expert_units": [[128], [64]], "num_levels": 2, "native_fusion": True}),
    ("adatt_sp", "tfmtl.layers.adatt:AdaTTSp",
     {"num_task_experts": 2, "expert_units": [[128], [64]], "num_levels": 2, "native_fusion": True}),
    ("cross_stitch", "tfmtl.layers.cross_stitch:CrossStitch", {"units": _UNITS, "self_weight": 0.9}),
    ("sluice", "tfmtl.layers.sluice:Sluice", {"units": [64, 64], "num_subspaces": 2, "self_weight": 0.9,
                                              "combine": "sum", "orthogonality_weight": 0.0}),
    ("asymmetric", "tfmtl.layers.asymmetric:AsymmetricSharing", {"units": _UNITS, "sources": None, "fusion": "sum"}),
    ("customized", "tfmtl.layers.customized:CustomizedSharing", {"shared_units": _UNITS, "task_units": [64, 32]}),
):
    register_switcher(_name, _factory, _defaults)

_TREE = {"switcher": "mmoe", "facet_order": None, "branch_units": [64], "route_facets": None, "tower_dropout": 0.0}
register_family("flat", "tfmtl.models.registry:build_flat_family", {"switcher": "mmoe"})
register_family("hmtl", "tfmtl.models.families:build_tree", _TREE, nested="switcher")
register_family("mfh", "tfmtl.models.families:build_tree", {**_TREE, "depth": None}, nested="switcher")
register_family("dml", "tfmtl.models.families:build_dml_family",
                {"backbone": "mmoe", "variant": "dml", "tower_dropout": 0.0}, nested="backbone")
register_family("dtrn", "tfmtl.models.families:build_dtrn_family",
                {"backbone": "mmoe", "tim": True, "trm": True, "num_heads": 2, "hyper_units": 32, "trm_units": 64,
                 "injection": "ln", "tower_dropout": 0.0}, nested="backbone")
register_family("esmm", "tfmtl.models.families:build_esmm_family",
                {"switcher": None, "ctr_loss_weight": 1.0, "cvr_loss_weight": 0.0, "ctcvr_loss_weight": 1.0,
                 "tower_dropout": 0.0}, nested="switcher")
register_family("aitm", "tfmtl.models.families:build_aitm_family",
                {"switcher": None, "bottom_units": [128, 64, 32], "calibrator_weight": 0.6, "tower_dropout": 0.0},
                nested="switcher")
