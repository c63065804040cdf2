"""The default fusion of a tfmtl.json contract and the checks of a fusion (PLE eq 1).

`default_fusion` is what a model ranks by unless told otherwise, `check_fusion` lays a
request's or a config's overrides over it, `validate_fusion` checks a complete one, and
`entire_space_task` finds the head that already is the entire-space conversion (ESMM, AITM).
"""

from __future__ import annotations

import math
import numbers

from tfmtl.contract_errors import ContractError, short_repr

FUSION_KINDS = ("product", "weighted_sum")
LENGTH_TRANSFORMS = ("none", "log1p", "sigmoid")
FUSION_KEYS = ("kind", "weights", "length_feature", "length_transform")
# Family -> position of the head that is the entire-space conversion (ESMM: [ctr, cvr, ctcvr]).
ENTIRE_SPACE_FAMILIES = {"esmm": 2, "aitm": -1}


def default_fusion(tasks, entire_space_task: str | None = None) -> dict:
    """The fusion a model ranks by unless told otherwise; `tasks`: Tasks or tfmtl.json task dicts.

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

    >>> fusion = {"kind": "weighted_sum", "weights": {"ctr": 2}, "length_feature": ""}
    >>> fusion = validate_fusion(fusion)
    >>> fusion["kind"], fusion["weights"], fusion["length_feature"], fusion["length_transform"]
    ('weighted_sum', {'ctr': 2.0}, None, 'none')
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
            f"fusion.weights must map task names to numbers. Received: {short_repr(weights)}.",
            "fusion.weights",
        )
    for task, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w):
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
    """`fusion` (overrides, or None) over `default_fusion`, checked.

    Checks known keys and tasks, and that the length feature is dense.

    >>> tasks = [{"name": "ctr", "kind": "binary"}, {"name": "cvr", "kind": "binary"}]
    >>> fusion = check_fusion({"weights": {"cvr": 0.5}}, tasks)
    >>> fusion["kind"], fusion["weights"], fusion["length_feature"], fusion["length_transform"]
    ('product', {'ctr': 1.0, 'cvr': 0.5}, None, 'none')
    """
    result = default_fusion(tasks, entire_space_task)
    if fusion is None:
        return result
    if not isinstance(fusion, dict):
        raise ContractError(
            f"fusion must be a dict with keys {list(FUSION_KEYS)}. "
            f"Received: {type(fusion).__name__}.",
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
            f"fusion.weights must map task names to numbers. Received: {short_repr(weights)}.",
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

    >>> tasks = [{"name": "click", "kind": "binary"}, {"name": "buy", "kind": "binary"}]
    >>> entire_space_task({"family": "aitm"}, tasks)
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


def metadata_fusion(metadata: dict) -> dict:
    """The document's default fusion, checked; a document without one gets `default_fusion`."""
    if not metadata.get("fusion"):
        return default_fusion(metadata.get("tasks") or (), metadata.get("entire_space_task"))
    return validate_fusion(metadata["fusion"])


def _name_kind(task) -> tuple[str, str]:
    if isinstance(task, dict):
        return task["name"], task.get("kind", "binary")
    return task.name, task.kind
