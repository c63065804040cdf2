"""tfmtl.json documents: where an export keeps one, and its check against `SCHEMA`.

The keys are described in `tfmtl.contract`'s docstring.
"""

from __future__ import annotations

import json
import numbers
from pathlib import Path

from tfmtl.contract_errors import ContractError, short_repr
from tfmtl.contract_fusion import validate_fusion

FORMAT = 1
ASSETS_EXTRA = "assets.extra"
METADATA_FILE = "tfmtl.json"
TASK_KINDS = ("binary", "regression")
FEATURE_KINDS = ("dense", "categorical", "sequence")

_NONE = type(None)
_NUMBER = numbers.Real
SCHEMA = {  # key -> (types, required)
    "format": (int, True),
    "model": (dict, True),
    "tasks": (list, True),
    "features": (list, True),
    "fusion": (dict, True),
    "entire_space_task": ((str, _NONE), False),
    "facet_groups": (dict, False),
    "default_facet_group": ((str, _NONE), False),
    "facet_group_required": (bool, False),
    "metrics": (dict, False),
    "versions": (dict, False),
}
MODEL_SCHEMA = {
    "name": (str, True),
    "version": (int, True),
    "class": (str, False),
    "zoo": ((str, _NONE), False),
    "family": ((str, _NONE), False),
}
TASK_SCHEMA = {
    "name": (str, True),
    "kind": (str, True),
    "facets": (dict, False),
    "loss_weight": (_NUMBER, False),
}
FEATURE_SCHEMA = {
    "name": (str, True),
    "kind": (str, True),
    "dtype": (str, True),
    "shape": (list, True),
    "sample_values": ((list, _NONE), False),
    "padding": ((int, str), False),
}
FUSION_SCHEMA = {
    "kind": (str, True),
    "weights": (dict, True),
    "length_feature": ((str, _NONE), False),
    "length_transform": (str, False),
}


def metadata_path(version_dir) -> Path:
    """Where an export version keeps its tfmtl.json: `VERSION_DIR/assets.extra/tfmtl.json`."""
    return Path(version_dir) / ASSETS_EXTRA / METADATA_FILE


def read_metadata(version_dir) -> dict:
    """The checked tfmtl.json of an export version directory `BASE/NAME/VERSION`."""
    path = metadata_path(version_dir)
    if not path.is_file():
        raise ContractError(
            f"{path} does not exist: {version_dir} is not a tfmtl export version directory."
        )
    try:
        text = path.read_text()
    except OSError as e:
        raise ContractError(f"Cannot read {path}: {e}.") from None
    return parse_metadata(text, source=str(path))


def parse_metadata(document, source: str = METADATA_FILE) -> dict:
    """A tfmtl.json document (dict or JSON text) checked against `SCHEMA`.

    Errors name `source` and the field.

    >>> try:
    ...     parse_metadata('{"format": 2}', source="m/1/assets.extra/tfmtl.json")
    ... except ContractError as e:
    ...     print(e.field, "|", str(e)[:68])
    format | m/1/assets.extra/tfmtl.json: format is 2; this tfmtl reads format 1.
    """
    if isinstance(document, (str, bytes)):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as e:
            raise ContractError(f"{source} is not valid JSON ({e}).") from None
    if not isinstance(document, dict):
        raise ContractError(
            f"{source} must hold a JSON object. Received: {type(document).__name__}."
        )
    fmt = document.get("format")
    if fmt != FORMAT or isinstance(fmt, bool):
        raise ContractError(
            f"{source}: format is {fmt!r}; this tfmtl reads format {FORMAT}. Re-export the model "
            "with this tfmtl, or serve it with the tfmtl that wrote it.",
            "format",
        )
    try:
        _check_document(document)
    except ContractError as e:
        raise ContractError(f"{source}: {e}", e.field) from None
    return document


def _check_document(doc: dict) -> None:
    _check_fields(doc, SCHEMA, "")
    _check_fields(doc["model"], MODEL_SCHEMA, "model.")
    names = []
    for i, task in enumerate(doc["tasks"]):
        _check_fields(task, TASK_SCHEMA, f"tasks[{i}].")
        _check_choice(task["kind"], TASK_KINDS, f"tasks[{i}].kind")
        if task["name"] in names:
            raise ContractError(
                f"tasks[{i}].name '{task['name']}' appears twice; task names are unique.",
                f"tasks[{i}].name",
            )
        names.append(task["name"])
    for i, feature in enumerate(doc["features"]):
        _check_fields(feature, FEATURE_SCHEMA, f"features[{i}].")
        _check_choice(feature["kind"], FEATURE_KINDS, f"features[{i}].kind")
    _check_fields(doc["fusion"], FUSION_SCHEMA, "fusion.")
    fusion = validate_fusion(doc["fusion"])
    stray = [t for t in fusion["weights"] if t not in names]
    if stray:
        raise ContractError(
            f"fusion.weights names unknown task(s) {stray}. Tasks: {names}.", "fusion.weights"
        )
    for group, heads in (doc.get("facet_groups") or {}).items():
        if not isinstance(heads, list) or any(h not in names for h in heads):
            raise ContractError(
                f"facet_groups['{group}'] must list task names. Received: {short_repr(heads)}. "
                f"Tasks: {names}.",
                f"facet_groups['{group}']",
            )
    default = doc.get("default_facet_group")
    if default is not None and default not in (doc.get("facet_groups") or {}):
        raise ContractError(
            f"default_facet_group must be a facet group. Received: {default!r}. "
            f"Groups: {sorted(doc.get('facet_groups') or {})}.",
            "default_facet_group",
        )
    if doc.get("entire_space_task") is not None and doc["entire_space_task"] not in names:
        raise ContractError(
            f"entire_space_task must name a task. Received: {doc['entire_space_task']!r}. "
            f"Tasks: {names}.",
            "entire_space_task",
        )


def _check_fields(obj, schema: dict, prefix: str) -> None:
    if not isinstance(obj, dict):
        raise ContractError(
            f"{prefix.rstrip('.')} must be a JSON object. Received: {short_repr(obj)}.",
            prefix.rstrip("."),
        )
    for key, (types, required) in schema.items():
        if key not in obj:
            if required:
                raise ContractError(
                    f"{prefix}{key} is missing; a format {FORMAT} file has it.", prefix + key
                )
            continue
        value = obj[key]
        wanted = types if isinstance(types, tuple) else (types,)
        if (isinstance(value, bool) and bool not in wanted) or not isinstance(value, wanted):
            names = " or ".join(
                "null" if t is _NONE else "a number" if t is _NUMBER else _JSON.get(t, t.__name__)
                for t in wanted
            )
            raise ContractError(
                f"{prefix}{key} must be {names}. Received: {short_repr(value)}.", prefix + key
            )


_JSON = {
    int: "an integer",
    str: "a string",
    dict: "an object",
    list: "a list",
    bool: "true or false",
}


def _check_choice(value, choices: tuple, field: str) -> None:
    if value not in choices:
        raise ContractError(f"{field} must be one of {choices}. Received: {value!r}.", field)
