"""The tfmtl.json contract: what an export tells a ranking service, and its checks (no TensorFlow).

Export writes `BASE/NAME/VERSION/assets.extra/tfmtl.json` (`metadata_path`), serving reads
it (`read_metadata`, `parse_metadata`). Format 1, key by key (`SCHEMA`):

- `format`: `1`. `model`: `name`, `version`, `class`, `zoo`, `family`.
- `tasks`: `[{name, kind, facets, loss_weight}]`, kind in `TASK_KINDS`: every head, by name.
- `features`: `[{name, kind, dtype, shape, sample_values, padding}]`, one per raw input;
  `sample_values` are a few valid raw values (a sequence's element values), `padding` a
  sequence's pad value.
- `fusion`: `{kind, weights, length_feature, length_transform}`, the default fusion
  (PLE eq 1: `score = prod_k p_k^w_k * f(length)`, or `(sum_k w_k p_k) * f(length)`).
- `entire_space_task`: the head that already is the entire-space conversion (ESMM's
  pCTCVR = pCTR x pCVR, AITM's last funnel step), which the default fusion uses alone.
- `facet_groups`: group -> its heads (MFH facet routing); `default_facet_group`: the group
  a request naming none gets; `facet_group_required`: whether a request must name one.
- `metrics`, `versions`: training metrics and library versions, for people.

Readers ignore keys they do not know, so keys are added within format 1; a key an older
file lacks takes its default here.

Facet routing (`group_heads`): a request naming a group gets that group's heads only, and
the default fusion restricted to them. A request naming none gets `default_facet_group`'s
heads; without one, every head, unless `facet_group_required`: the heads are facet leaves
split by group (MFH, H-MTL), and multiplying one segment's probabilities by another's means
nothing, so such a request is refused.

Example:

>>> tasks = [{"name": "ctr", "kind": "binary"}, {"name": "cvr", "kind": "binary"},
...          {"name": "ctcvr", "kind": "binary"}]
>>> default_fusion(tasks)["weights"]
{'ctr': 1.0, 'cvr': 1.0, 'ctcvr': 1.0}
>>> default_fusion(tasks, entire_space_task="ctcvr")["weights"]
{'ctr': 0.0, 'cvr': 0.0, 'ctcvr': 1.0}
>>> metadata_path("models/ranker/3").as_posix()
'models/ranker/3/assets.extra/tfmtl.json'
"""

from __future__ import annotations

import json
import math
import numbers
from pathlib import Path

FORMAT = 1
ASSETS_EXTRA = "assets.extra"
METADATA_FILE = "tfmtl.json"
TASK_KINDS = ("binary", "regression")
FEATURE_KINDS = ("dense", "categorical", "sequence")
FUSION_KINDS = ("product", "weighted_sum")
LENGTH_TRANSFORMS = ("none", "log1p", "sigmoid")
FUSION_KEYS = ("kind", "weights", "length_feature", "length_transform")
# Family -> position of the head that is the entire-space conversion (ESMM: [ctr, cvr, ctcvr]).
ENTIRE_SPACE_FAMILIES = {"esmm": 2, "aitm": -1}

MAX_SHOWN_CHARS = 64  # a request's value is quoted in a message up to this many characters

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


class ContractError(ValueError):
    """A document, fusion or facet group that breaks the contract; `field` names the culprit.

    Example:

    >>> try:
    ...     validate_fusion({"kind": "max", "weights": {}})
    ... except ContractError as e:
    ...     print(e.field, "|", e)
    fusion.kind | fusion.kind must be one of ('product', 'weighted_sum'). Received: 'max'.
    """

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field


class UnknownFacetGroup(ContractError, LookupError):
    """A `facet_group` the model does not have (serving answers NOT_FOUND)."""


def metadata_path(version_dir) -> Path:
    """Where an export version keeps its tfmtl.json: `VERSION_DIR/assets.extra/tfmtl.json`."""
    return Path(version_dir) / ASSETS_EXTRA / METADATA_FILE


# -- fusion ---------------------------------------------------------------------------------
def default_fusion(tasks, entire_space_task: str | None = None) -> dict:
    """The fusion a model ranks by unless told otherwise; `tasks` are Tasks or tfmtl.json task dicts.

    PLE eq 1 without f: the product of every binary head (weight 1), regression heads
    weight 0. With `entire_space_task`, that head alone: ESMM's pCTCVR already is
    pCTR x pCVR, so a product with pCTR would count the click twice.
    """
    pairs = [_name_kind(t) for t in tasks]
    if entire_space_task is not None:
        weights = {name: 1.0 if name == entire_space_task else 0.0 for name, _ in pairs}
    else:
        weights = {name: 1.0 if kind == "binary" else 0.0 for name, kind in pairs}
    return {
        "kind": "product",
        "weights": weights,
        "length_feature": None,
        "length_transform": "none",
    }


def validate_fusion(fusion: dict) -> dict:
    """A complete fusion checked (kind, transform, finite weights) and normalised.

    >>> validate_fusion({"kind": "weighted_sum", "weights": {"ctr": 2}, "length_feature": ""})
    {'kind': 'weighted_sum', 'weights': {'ctr': 2.0}, 'length_feature': None, 'length_transform': 'none'}
    """
    kind = fusion.get("kind", "product")
    if kind not in FUSION_KINDS:
        raise ContractError(
            f"fusion.kind must be one of {FUSION_KINDS}. Received: {kind!r}.", "fusion.kind"
        )
    transform = fusion.get("length_transform", "none")
    if transform not in LENGTH_TRANSFORMS:
        raise ContractError(
            f"fusion.length_transform must be one of {LENGTH_TRANSFORMS}. Received: {transform!r}.",
            "fusion.length_transform",
        )
    weights = fusion.get("weights")
    if not isinstance(weights, dict):
        raise ContractError(
            f"fusion.weights must map task names to numbers. Received: {_short(weights)}.",
            "fusion.weights",
        )
    for task, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, _NUMBER) or not math.isfinite(w):
            raise ContractError(
                f"fusion.weights['{task}'] must be a finite number. Received: {w!r}.",
                f"fusion.weights['{task}']",
            )
    length = fusion.get("length_feature") or None
    if length is not None and not isinstance(length, str):
        raise ContractError(
            f"fusion.length_feature must be a feature name or null. Received: {length!r}.",
            "fusion.length_feature",
        )
    return {
        "kind": kind,
        "weights": {str(k): float(v) for k, v in weights.items()},
        "length_feature": length,
        "length_transform": transform,
    }


def check_fusion(
    fusion: dict | None, tasks, dense_features=None, entire_space_task: str | None = None
) -> dict:
    """`fusion` (overrides, or None) over `default_fusion`, checked: known keys and tasks, a dense length.

    >>> check_fusion({"weights": {"cvr": 0.5}}, [{"name": "ctr", "kind": "binary"}, {"name": "cvr", "kind": "binary"}])
    {'kind': 'product', 'weights': {'ctr': 1.0, 'cvr': 0.5}, 'length_feature': None, 'length_transform': 'none'}
    """
    result = default_fusion(tasks, entire_space_task)
    if fusion is None:
        return result
    if not isinstance(fusion, dict):
        raise ContractError(
            f"fusion must be a dict with keys {list(FUSION_KEYS)}. Received: {type(fusion).__name__}.",
            "fusion",
        )
    unknown = sorted(set(fusion) - set(FUSION_KEYS))
    if unknown:
        raise ContractError(
            f"fusion has unknown key(s) {unknown}. Known keys: {list(FUSION_KEYS)}.", "fusion"
        )
    weights = fusion.get("weights") or {}
    if not isinstance(weights, dict):
        raise ContractError(
            f"fusion.weights must map task names to numbers. Received: {_short(weights)}.",
            "fusion.weights",
        )
    stray = [t for t in weights if t not in result["weights"]]
    if stray:
        raise ContractError(
            f"fusion.weights names unknown task(s) {stray}. Tasks: {list(result['weights'])}.",
            "fusion.weights",
        )
    merged = {**result, **{k: v for k, v in fusion.items() if k != "weights"}}
    merged = validate_fusion({**merged, "weights": {**result["weights"], **weights}})
    length = merged["length_feature"]
    if dense_features is not None and length is not None and length not in list(dense_features):
        raise ContractError(
            f"fusion.length_feature must name a dense feature. Received: {length!r}. "
            f"Dense features: {list(dense_features)}.",
            "fusion.length_feature",
        )
    return merged


def entire_space_task(model_metadata: dict | None, tasks) -> str | None:
    """The head that already is the entire-space conversion, from a model's builder metadata.

    `model_metadata["entire_space_task"]` if set (`build_esmm` and `build_aitm` set it), else
    by family (`metadata["family"]`, or the zoo name `metadata["model"]`): ESMM's third head
    (pCTCVR), AITM's last funnel step. Other families: None.

    >>> entire_space_task({"family": "aitm"}, [{"name": "click", "kind": "binary"}, {"name": "buy", "kind": "binary"}])
    'buy'
    """
    names = [_name_kind(t)[0] for t in tasks]
    meta = dict(model_metadata or {})
    if meta.get("entire_space_task") is not None:
        task = meta["entire_space_task"]
        if task not in names:
            raise ContractError(
                f"entire_space_task names no task. Received: {task!r}. Tasks: {names}.",
                "entire_space_task",
            )
        return task
    position = ENTIRE_SPACE_FAMILIES.get(meta.get("family") or meta.get("model"))
    if position is None or not -len(names) <= position < len(names) or len(names) < 2:
        return None
    return names[position]


# -- facet routing --------------------------------------------------------------------------
def facet_routing(
    tasks, groups: dict, default_group: str | None = None, required: bool | None = None
) -> dict:
    """`default_facet_group` and `facet_group_required` for an export with facet `groups`.

    `required` defaults to whether the grouped heads are facet leaves (Tasks with `facets`,
    as MFH and H-MTL build them).

    >>> leaves = [{"name": f"ctr.{g}", "kind": "binary", "facets": {"group": g}} for g in ("new", "old")]
    >>> facet_routing(leaves, {"new": ["ctr.new"], "old": ["ctr.old"]})
    {'default_facet_group': None, 'facet_group_required': True}
    """
    facets = {name: f for name, f in (_name_facets(t) for t in tasks)}
    for group, heads in groups.items():
        stray = [h for h in heads if h not in facets]
        if stray:
            raise ContractError(
                f"facet_groups['{group}'] names unknown head(s) {stray}. Tasks: {list(facets)}.",
                f"facet_groups['{group}']",
            )
    if default_group is not None and default_group not in groups:
        raise ContractError(
            f"default_facet_group is not a facet group. Received: {default_group!r}. "
            f"Groups: {sorted(groups)}.",
            "default_facet_group",
        )
    if required is None:
        required = any(facets[h] for heads in groups.values() for h in heads)
    return {"default_facet_group": default_group, "facet_group_required": bool(required)}


def task_names(metadata: dict) -> list[str]:
    """Every head's name, in the model's task order."""
    return [t["name"] for t in metadata.get("tasks") or ()]


def task_kinds(metadata: dict) -> dict:
    """Head name -> `"binary"` or `"regression"`."""
    return {t["name"]: t["kind"] for t in metadata.get("tasks") or ()}


def facet_groups(metadata: dict) -> dict:
    """Facet group -> its heads (`{}` for a model without facet routing)."""
    return {str(g): list(heads) for g, heads in (metadata.get("facet_groups") or {}).items()}


def facet_group_required(metadata: dict) -> bool:
    """Whether a request must name a facet group (files without the key: derived as `facet_routing` does)."""
    if "facet_group_required" in metadata:
        return bool(metadata["facet_group_required"])
    groups = facet_groups(metadata)
    return (
        bool(groups) and facet_routing(metadata.get("tasks") or (), groups)["facet_group_required"]
    )


def group_heads(metadata: dict, group: str = "", owner: str = "the model") -> list[str]:
    """The heads a request for `group` ("" for none) is served and fused with; see the module docstring.

    >>> meta = {"tasks": [{"name": "ctr", "kind": "binary"}, {"name": "like", "kind": "binary"}],
    ...         "facet_groups": {"social": ["like"]}}
    >>> group_heads(meta, "social"), group_heads(meta)
    (['like'], ['ctr', 'like'])
    """
    groups = facet_groups(metadata)
    if group:
        if group not in groups:
            raise UnknownFacetGroup(
                f"facet_group {shown(group)} is not a facet group of {owner}. "
                f"Groups: {sorted(groups)}.",
                "facet_group",
            )
        return groups[group]
    default = metadata.get("default_facet_group")
    if default:
        if default not in groups:
            raise ContractError(
                f"default_facet_group '{default}' of {owner} is not one of its facet groups "
                f"{sorted(groups)}.",
                "default_facet_group",
            )
        return groups[default]
    if groups and facet_group_required(metadata):
        raise ContractError(
            f"facet_group is empty, but {owner} serves one group of heads per request (its heads "
            f"are facet leaves): name one of {sorted(groups)}.",
            "facet_group",
        )
    return task_names(metadata)


def metadata_fusion(metadata: dict) -> dict:
    """The document's default fusion, checked; a document without one gets `default_fusion`."""
    if not metadata.get("fusion"):
        return default_fusion(metadata.get("tasks") or (), metadata.get("entire_space_task"))
    return validate_fusion(metadata["fusion"])


# -- documents ------------------------------------------------------------------------------
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
    """A tfmtl.json document (dict or JSON text) checked against `SCHEMA`; errors name `source` and the field.

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
                f"facet_groups['{group}'] must list task names. Received: {_short(heads)}. "
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
            f"{prefix.rstrip('.')} must be a JSON object. Received: {_short(obj)}.",
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
                f"{prefix}{key} must be {names}. Received: {_short(value)}.", prefix + key
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


def _name_kind(task) -> tuple[str, str]:
    if isinstance(task, dict):
        return task["name"], task.get("kind", "binary")
    return task.name, task.kind


def _name_facets(task) -> tuple[str, dict]:
    if isinstance(task, dict):
        return task["name"], dict(task.get("facets") or {})
    return task.name, dict(task.facets)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def shown(value, limit: int = MAX_SHOWN_CHARS) -> str:
    """A request's value quoted for a message, cut to `limit` characters.

    >>> shown("ctr"), shown("x" * 100)
    ("'ctr'", "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' (100 chars)")
    """
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if len(text) > limit:
        return f"'{text[:limit]}...' ({len(text)} chars)"
    return f"'{text}'"
