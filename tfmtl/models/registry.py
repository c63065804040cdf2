"""Every model family by name, with its hyper-parameters and their defaults: the zoo's one door.

A model config is a plain dict, the run config's `model:` section. Each switcher is a family
of its own, the flat macro structure (features -> switcher -> one tower per task):
`{"family": "ple", "num_levels": 2}` is `{"family": "flat", "switcher": "ple", "num_levels": 2}`.
Where a family takes a switcher (`switcher`, `backbone`), give a switcher name or a flat
model config: `{"family": "mfh", "switcher": "ple"}`, `{"family": "dml", "backbone":
{"family": "mmoe", "num_experts": 4}}`. `resolve` checks a config and fills in every default
without importing Keras (builders load on first `build`); `build` makes the model.

A new family is one file, its builder `build_x(spec, tasks, **hparams)`
(the switcher key arrives as a resolved switcher config), and one `register_family` call in
`tfmtl/models/catalog.py`.

Example:

>>> resolve({"family": "dml", "backbone": "mmoe"})["backbone"]
{'family': 'mmoe', 'num_experts': 8, 'expert_units': [128, 64], 'gate': 'softmax'}
>>> resolve({"family": "shared_bottom", "heads": 4})
Traceback (most recent call last):
...
ValueError: model.heads: shared_bottom has no hyper-parameter 'heads'; it takes: units.
>>> model = build({"family": "mfh", "switcher": "ple"}, spec, tasks)  # doctest: +SKIP
>>> model.metadata["family"], model.metadata["model_config"]["switcher"]["family"]  # doctest: +SKIP
('mfh', 'ple')
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
from typing import Any, Callable

FLAT = "flat"


@dataclasses.dataclass(frozen=True)
class Family:
    """A registered family: what builds it, its hyper-parameters' defaults and allowed values.

    `build`: a callable or its "module:function" path (a switcher's: its class). `switcher`:
    the hyper-parameter holding a switcher config, if any. `choices`: hyper-parameter -> the
    strings it may take.
    """

    name: str
    build: str | Callable
    defaults: dict
    switcher: str | None = None
    choices: dict = dataclasses.field(default_factory=dict)


_SWITCHERS: dict[str, Family] = {}
_FAMILIES: dict[str, Family] = {}


def register_switcher(name: str, factory, defaults: dict, choices: dict | None = None) -> None:
    """Switcher `name`: `factory(num_outputs, **hparams)` (or its "module:Class" path), `defaults`.

    It becomes the flat family `name` and any family's switcher or backbone.
    """
    if name in _FAMILIES:
        raise ValueError(
            f"register_switcher: {name!r} is already a model family; pick another name."
        )
    _SWITCHERS[name] = Family(
        name, factory, copy.deepcopy(dict(defaults)), None, dict(choices or {})
    )


def register_family(
    name: str,
    build: str | Callable,
    defaults: dict,
    switcher: str | None = None,
    choices: dict | None = None,
) -> None:
    """Family `name`, built by `build(spec, tasks, lookup=..., **hparams)`.

    `build` is the builder or its "module:function" path, imported on the first `build`.

    `switcher` names the hyper-parameter that takes a switcher name or a flat model config;
    the builder receives it resolved, `{"family": <switcher>, **its hyper-parameters}`.
    """
    if name in _SWITCHERS:
        raise ValueError(f"register_family: {name!r} is already a switcher; pick another name.")
    if switcher is not None and switcher not in defaults:
        raise ValueError(
            f"register_family: {name!r} has switcher={switcher!r}, which its defaults lack."
        )
    _FAMILIES[name] = Family(
        name, build, copy.deepcopy(dict(defaults)), switcher, dict(choices or {})
    )


def available_families() -> list[str]:
    """Every family name, switchers included, sorted."""
    return sorted({*_SWITCHERS, *_FAMILIES})


def available_switchers() -> list[str]:
    return sorted(_SWITCHERS)


def family_defaults(name: str) -> dict:
    """Family `name`'s hyper-parameters with their defaults, nested switchers filled in.

    >>> family_defaults("mfh")["switcher"]
    {'family': 'mmoe', 'num_experts': 8, 'expert_units': [128, 64], 'gate': 'softmax'}
    """
    resolved = resolve(name)
    resolved.pop("family")
    return resolved


def switcher_factory(name: str) -> tuple[Callable, dict]:
    """The class (or callable) that makes switcher `name`, and a copy of its defaults."""
    if name not in _SWITCHERS:
        raise ValueError(
            f"Unknown model '{name}'. Choose one of: {', '.join(available_switchers())}"
        )
    entry = _SWITCHERS[name]
    return _load(entry.build), copy.deepcopy(entry.defaults)


def resolve(config, key: str = "model") -> dict:
    """`config` (a mapping with `family`, or a family name) checked, every default filled in.

    Returns a new dict; resolving it again changes nothing. Errors are one-line `ValueError`s
    that start with the key path, e.g. `model.backbone.num_expert: ...`.

    >>> resolve({"family": "flat", "switcher": "cgc", "num_shared_experts": 1})["expert_units"]
    [128, 64]
    """
    if isinstance(config, str):
        config = {"family": config}
    if not isinstance(config, dict):
        raise ValueError(
            f"{key}: expected a family name or a mapping with `family`; got {config!r}."
        )
    config = copy.deepcopy(config)
    name = config.pop("family", None)
    if name is None:
        raise ValueError(
            f"{key}.family: missing; choose one of: {', '.join(available_families())}."
        )
    if isinstance(name, str) and name in _SWITCHERS:
        return {"family": name, **_fill(_SWITCHERS[name], config, key)}
    if name == FLAT:
        return _resolve_flat(config, key)
    if not isinstance(name, str) or name not in _FAMILIES:
        names = ", ".join(available_families())
        raise ValueError(f"{key}.family: unknown family {name!r}; choose one of: {names}.")
    family = _FAMILIES[name]
    resolved = {"family": name, **_fill(family, config, key)}
    if family.switcher:
        resolved[family.switcher] = _resolve_switcher(
            resolved[family.switcher],
            f"{key}.{family.switcher}",
            name,
            family.defaults[family.switcher],
        )
    return resolved


def build(config, spec, tasks, lookup: bool = True):
    """The `MultiTaskModel` that `config` describes, on an adapted `spec` and its `tasks`.

    `lookup`: raw values looked up inside the model (TensorFlow only; exportable), or the
    ids of `FeatureSpec.encode` (every backend; `export` restores the lookups). Its
    `metadata` adds `family` (the macro structure: "flat" for a switcher, else the family)
    and `model_config` (the resolved config) to what the family's builder records.
    """
    resolved = resolve(config)
    hparams = copy.deepcopy(resolved)
    name = hparams.pop("family")
    if name in _SWITCHERS:
        name, hparams = FLAT, {"switcher": name, **hparams}
    model = _load(_FAMILIES[name].build)(spec, tasks, lookup=lookup, **hparams)
    model.metadata.update({"family": name, "model_config": resolved})
    return model


def _resolve_flat(config: dict, key: str) -> dict:
    switcher = config.pop("switcher", _FAMILIES[FLAT].defaults["switcher"])
    if isinstance(switcher, dict):
        if config:
            raise ValueError(
                f"{key}.{next(iter(config))}: flat takes its switcher's hyper-parameters beside "
                "`switcher` or inside it, not both."
            )
        inner = _resolve_switcher(switcher, f"{key}.switcher", FLAT, None)
        return {"family": FLAT, "switcher": inner.pop("family"), **inner}
    if not isinstance(switcher, str) or switcher not in _SWITCHERS:
        raise ValueError(
            f"{key}.switcher: unknown switcher {switcher!r}; choose one of: "
            f"{', '.join(available_switchers())}."
        )
    return {"family": FLAT, "switcher": switcher, **_fill(_SWITCHERS[switcher], config, key)}


def _resolve_switcher(value, key: str, owner: str, default) -> dict | None:
    """A switcher name or model config -> `{"family": <switcher>, **hyper-parameters}`."""

    def refuse(where: str, got: str):
        return ValueError(
            f"{where}: {owner} takes a switcher or a flat model config, not {got}; "
            f"choose one of: {', '.join(available_switchers())}."
        )

    if value is None:
        if default is None:
            return None
        raise refuse(key, "None")
    if isinstance(value, str):
        if value not in _SWITCHERS and value != FLAT:
            raise refuse(key, repr(value))
        value = {"family": value}
    if not isinstance(value, dict):
        raise refuse(key, repr(value))
    inner = resolve(value, key)
    if inner["family"] == FLAT:
        inner.pop("family")
        inner = {"family": inner.pop("switcher"), **inner}
    elif inner["family"] not in _SWITCHERS:
        raise refuse(f"{key}.family", f"family {inner['family']!r}")
    return inner


def _fill(entry: Family, given: dict, key: str) -> dict:
    """`entry`'s defaults overridden by `given`, each key and value checked."""
    unknown = [k for k in given if k not in entry.defaults]
    if unknown:
        raise ValueError(
            f"{key}.{unknown[0]}: {entry.name} has no hyper-parameter {unknown[0]!r}; "
            f"it takes: {', '.join(sorted(entry.defaults)) or 'none'}."
        )
    filled = copy.deepcopy(entry.defaults)
    for name, value in given.items():
        if name != entry.switcher:
            default, choices = entry.defaults[name], entry.choices.get(name)
            _check_value(value, default, choices, f"{key}.{name}", entry.name, name)
        filled[name] = value
    return filled


def _check_value(value: Any, default: Any, choices, key: str, owner: str, name: str) -> None:
    """`value` must be of its default's kind; an int default also takes a list (one per level)."""
    if isinstance(value, dict) and isinstance(default, str) and choices is not None:
        value = value.get("kind")  # a choice with options, e.g. {kind: topk, k: 2}
    if choices is not None:
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v not in choices:
                raise ValueError(
                    f"{key}: {owner} has no {name} {v!r}; choose one of: {', '.join(choices)}."
                )
    if default is None or (isinstance(default, dict) and isinstance(value, dict)):
        return
    integer = isinstance(value, int) and not isinstance(value, bool)
    number = integer or isinstance(value, float)
    sequence = isinstance(value, (list, tuple))
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, kind = integer or sequence, "an integer"
    elif isinstance(default, float):
        ok, kind = number, "a number"
    elif isinstance(default, str):
        ok, kind = isinstance(value, str) or sequence, "a string"
    elif isinstance(default, (list, tuple)):
        ok, kind = sequence, "a list"
    else:
        ok, kind = isinstance(value, type(default)), type(default).__name__
    if not ok:
        raise ValueError(f"{key}: {owner} takes {kind} for {name}; got {value!r}.")


def _load(target):
    if callable(target):
        return target
    module, attribute = target.split(":")
    return getattr(importlib.import_module(module), attribute)


# The zoo's own families register in one file of their own, on import of the registry.
from tfmtl.models import catalog  # noqa: E402, F401
