"""The run config: one YAML file per experiment, checked and completed before any data is read.

Sections: `data` (a built-in `dataset`, or files and reader options), `features` ("auto" or
a list overriding inferred columns), `drop`, `tasks`, `model` (a model family and its
hyper-parameters, see `tfmtl.models.registry`), `training` and `export`. `resolve` returns
the config with every default filled in; `tfmtl train` writes that copy beside the model.
No TensorFlow here: a mistake is found in milliseconds, as one line naming the key.

Example:

>>> config = parse_config('''
... data: {train: shop.csv, split: [0.8, 0.1, 0.1]}
... tasks: [{name: click, label: clicked}]
... model: {family: mmoe}
... ''', overrides=["training.epochs=3"])
>>> config["training"]["epochs"], config["tasks"][0]["kind"], config["data"]["format"]
(3, 'binary', 'csv')
"""

from __future__ import annotations

import copy
from pathlib import Path

from tfmtl.config_checks import (
    ConfigError,
    is_number,
)
from tfmtl.config_checks import as_list as _list
from tfmtl.config_checks import check_choice as _choice
from tfmtl.config_checks import check_keys as _keys
from tfmtl.config_checks import column_names as _names
from tfmtl.config_checks import is_real as _number
from tfmtl.config_data import DATA_DEFAULTS, FORMATS
from tfmtl.config_data import check_data as _data
from tfmtl.distribution import DISTRIBUTIONS

__all__ = [
    "DATA_DEFAULTS",
    "FORMATS",
    "ConfigError",
    "apply_override",
    "is_number",
    "load_config",
    "parse_config",
    "resolve",
]

PRECISIONS = ("float32", "mixed_bfloat16")
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "cosine")
FEATURE_KINDS = ("dense", "categorical")
DENSE_ENCODINGS = ("bucket", "piecewise_linear")
TRANSFORMS = ("none", "log1p")
MISSING = ("error", "mean")
FUSION_KEYS = ("kind", "weights", "length_feature", "length_transform")

TRAINING_DEFAULTS = {
    "epochs": 10,
    "batch_size": 1024,
    "learning_rate": 1e-3,
    "optimizer": "adam",
    "weight_decay": 0.0,
    "schedule": "constant",
    "early_stopping": None,
    "precision": "float32",
    "seed": 0,
    "tensorboard": None,
    "loss_balancing": "fixed",
    "distribution": "none",
}
TASK_KEYS = (
    "name",
    "kind",
    "label",
    "positive",
    "space",
    "weight",
    "decay",
    "facets",
    "tower_units",
)
FEATURE_KEYS = (
    "name",
    "kind",
    "encoding",
    "buckets",
    "vocabulary",
    "hash_bins",
    "embedding_dim",
    "transform",
    "missing",
    "min_count",
    "dtype",
)


def load_config(path, overrides=()) -> dict:
    """The run config in YAML file `path`, with `overrides` ("key.path=value"), resolved."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--config {path} is not a file.")
    return parse_config(path.read_text(), overrides, source=str(path), base_dir=path.parent)


def parse_config(text: str, overrides=(), source: str = "config", base_dir=".") -> dict:
    """`text` (YAML) with `overrides` applied, checked and resolved (see `resolve`)."""
    import yaml

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(
            f"{source}{where}: not valid YAML ({getattr(e, 'problem', e)})."
        ) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: a run config is a mapping of sections; got {type(raw).__name__}."
        )
    for item in overrides:
        apply_override(raw, item)
    try:
        return resolve(raw, base_dir)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def apply_override(config: dict, item: str) -> None:
    """`--set model.family=mmoe` (the value read as YAML; list items by index: `tasks.0.weight=2`;
    `null` removes a key, so its default applies)."""
    import yaml

    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r} is not key.path=value (e.g. model.family=mmoe).")
    parts = key.strip().split(".")
    node = config
    for i, part in enumerate(parts[:-1]):
        child = _child(node, part, ".".join(parts[: i + 1]))
        if child is None:
            child = {}
            _assign(node, part, child, key)
        node = child
    value = yaml.safe_load(text) if text.strip() else None
    if value is None and isinstance(node, dict):
        node.pop(parts[-1], None)
        return
    _assign(node, parts[-1], value, key)


def resolve(config: dict, base_dir=".") -> dict:
    """Check every section of `config` and fill in the defaults; returns a new dict."""
    config = copy.deepcopy(config)
    _keys(config, ("data", "features", "drop", "tasks", "model", "training", "export"), "")
    data = _data(config.get("data"), Path(base_dir))
    builtin = "dataset" in data
    tasks = _tasks(config.get("tasks"), builtin)
    from tfmtl.models.registry import resolve as resolve_model

    try:
        model = resolve_model(config.get("model") or "ple")
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return {
        "data": data,
        "features": _features(config.get("features", "auto"), builtin),
        "drop": _names(config.get("drop") or [], "drop"),
        "tasks": tasks,
        "model": model,
        "training": _training(config.get("training") or {}),
        "export": _export(config.get("export") or {}),
    }


def _tasks(tasks, builtin: bool) -> list:
    if builtin and not tasks:
        return []
    if not isinstance(tasks, list) or not tasks:
        raise ConfigError("tasks: a list of tasks, e.g. [{name: click, label: clicked}].")
    out, seen = [], set()
    for i, task in enumerate(tasks):
        key = f"tasks[{i}]"
        if not isinstance(task, dict) or not task.get("name"):
            raise ConfigError(f"{key}: a mapping with at least a name; got {task!r}.")
        _keys(task, TASK_KEYS, key)
        name = str(task["name"])
        if name in seen:
            raise ConfigError(f"{key}.name: task '{name}' is listed twice.")
        seen.add(name)
        if builtin:
            fixed = sorted(set(task) & {"label", "positive", "kind", "space"})
            if fixed:
                raise ConfigError(
                    f"{key}.{fixed[0]}: a built-in dataset fixes its tasks' labels and sample "
                    "spaces; only weight, decay, facets and tower_units can change."
                )
            out.append(task)
            continue
        resolved = {
            "name": name,
            "kind": task.get("kind", "binary"),
            "label": str(task.get("label", name)),
            "positive": task.get("positive"),
            "space": task.get("space"),
            "weight": task.get("weight", 1.0),
            "decay": task.get("decay", 1.0),
            "facets": task.get("facets") or {},
            "tower_units": task.get("tower_units", [64]),
        }
        _choice(resolved["kind"], ("binary", "regression"), f"{key}.kind")
        if resolved["positive"] is not None:
            if resolved["kind"] != "binary":
                raise ConfigError(f"{key}.positive: only a binary task has positive values.")
            resolved["positive"] = [str(v) for v in _list(resolved["positive"], f"{key}.positive")]
        for field in ("weight", "decay"):
            if (
                not _number(resolved[field])
                or resolved[field] < 0
                or (field == "decay" and resolved[field] == 0)
            ):
                raise ConfigError(
                    f"{key}.{field}: a number {'> 0' if field == 'decay' else '>= 0'}; got "
                    f"{resolved[field]!r}."
                )
        out.append(resolved)
    return out


def _features(features, builtin: bool):
    if features == "auto" or features is None:
        return "auto"
    if builtin:
        raise ConfigError(
            "features: a built-in dataset has its own features; leave `features` out (or auto)."
        )
    if not isinstance(features, list):
        raise ConfigError(f"features: 'auto' or a list of features; got {features!r}.")
    out = []
    for i, item in enumerate(features):
        key = f"features[{i}]"
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or "name" not in item:
            raise ConfigError(
                f"{key}: a mapping with a name (and kind, encoding, buckets, ...); got {item!r}."
            )
        _keys(item, FEATURE_KEYS, key)
        if "kind" in item:
            _choice(item["kind"], FEATURE_KINDS, f"{key}.kind")
        for field, choices in (
            ("encoding", DENSE_ENCODINGS),
            ("transform", TRANSFORMS),
            ("missing", MISSING),
            ("dtype", ("string", "int64")),
        ):
            if field in item:
                _choice(item[field], choices, f"{key}.{field}")
        for field in ("buckets", "hash_bins", "embedding_dim", "min_count"):
            if (
                field in item
                and item[field] is not None
                and (not isinstance(item[field], int) or item[field] < 0)
            ):
                raise ConfigError(f"{key}.{field}: a whole number >= 0; got {item[field]!r}.")
        out.append(item)
    return out


def _training(training: dict) -> dict:
    if not isinstance(training, dict):
        raise ConfigError(f"training: a mapping; got {training!r}.")
    _keys(training, TRAINING_DEFAULTS, "training")
    out = {**TRAINING_DEFAULTS, **training}
    for key in ("epochs", "batch_size"):
        if isinstance(out[key], bool) or not isinstance(out[key], int) or out[key] < 1:
            raise ConfigError(f"training.{key}: a whole number >= 1; got {out[key]!r}.")
    for key in ("learning_rate", "weight_decay"):
        if not _number(out[key]) or out[key] < 0 or (key == "learning_rate" and out[key] == 0):
            raise ConfigError(
                f"training.{key}: a number {'> 0' if key == 'learning_rate' else '>= 0'}; got "
                f"{out[key]!r}."
            )
    _choice(out["optimizer"], OPTIMIZERS, "training.optimizer")
    _choice(out["schedule"], SCHEDULES, "training.schedule")
    _choice(out["precision"], PRECISIONS, "training.precision")
    _choice(out["distribution"], DISTRIBUTIONS, "training.distribution")
    if not isinstance(out["seed"], int):
        raise ConfigError(f"training.seed: a whole number; got {out['seed']!r}.")
    stop = out["early_stopping"]
    if stop is not None:
        if isinstance(stop, int) and not isinstance(stop, bool):
            stop = {"patience": stop}
        if not isinstance(stop, dict):
            raise ConfigError(
                f"training.early_stopping: {{monitor: val_loss, patience: 3}}; got {stop!r}."
            )
        _keys(stop, ("monitor", "patience", "mode"), "training.early_stopping")
        stop = {"monitor": "val_loss", "patience": 3, "mode": "auto", **stop}
        if not isinstance(stop["patience"], int) or stop["patience"] < 1:
            raise ConfigError(
                f"training.early_stopping.patience: a whole number >= 1; got {stop['patience']!r}."
            )
        _choice(stop["mode"], ("auto", "min", "max"), "training.early_stopping.mode")
        out["early_stopping"] = stop
    out["loss_balancing"] = _loss_balancing(out["loss_balancing"])
    return out


def _loss_balancing(value):
    """`training.loss_balancing`: a strategy name, or {strategy: name, option: value, ...}."""
    from tfmtl.balancing import STRATEGIES

    name = value.get("strategy") if isinstance(value, dict) else value
    if not isinstance(name, str):
        raise ConfigError(
            f"training.loss_balancing: a strategy name or {{strategy: name, ...options}}; "
            f"got {value!r}."
        )
    _choice(
        name,
        tuple(STRATEGIES),
        "training.loss_balancing" + (".strategy" if isinstance(value, dict) else ""),
    )
    return value


def _export(export: dict) -> dict:
    if not isinstance(export, dict):
        raise ConfigError(f"export: a mapping; got {export!r}.")
    _keys(export, ("fusion",), "export")
    fusion = export.get("fusion")
    if fusion is not None:
        if not isinstance(fusion, dict):
            raise ConfigError(
                f"export.fusion: a mapping of {', '.join(FUSION_KEYS)}; got {fusion!r}."
            )
        _keys(fusion, FUSION_KEYS, "export.fusion")
    return {"fusion": fusion}


def _child(node, part: str, path: str):
    if isinstance(node, list):
        if not part.isdigit() or int(part) >= len(node):
            raise ConfigError(f"--set {path}: no item {part} in a list of {len(node)}.")
        return node[int(part)]
    if not isinstance(node, dict):
        raise ConfigError(f"--set {path}: its parent is not a mapping.")
    return node.get(part)


def _assign(node, part: str, value, key: str) -> None:
    if isinstance(node, list):
        if not part.isdigit() or int(part) >= len(node):
            raise ConfigError(f"--set {key}: no item {part} in a list of {len(node)}.")
        node[int(part)] = value
    elif isinstance(node, dict):
        node[part] = value
    else:
        raise ConfigError(f"--set {key}: its parent is not a mapping.")
