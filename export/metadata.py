"""`assets.extra/tfmtl.json`: what a ranking service needs to know about an export.

Tasks (name, kind, facets, loss weight), raw features (name, kind, dtype, shape), facet
groups, the default fusion (PLE eq 1: `score = prod_k p_k^w_k * f(length)`), training
metrics and library versions. The layout is the export <-> serving contract (format 1).

Example:

>>> meta = build_metadata(model, name="ranker", version=3)
>>> meta["fusion"]
{'kind': 'product', 'weights': {'ctr': 1.0, 'watch': 0.0}, 'length_feature': None, 'length_transform': 'none'}
>>> read_metadata("models/ranker/3")["model"]["version"]
3
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from tfmtl.export.layout import ExportError

FORMAT = 1
ASSETS_EXTRA = "assets.extra"
METADATA_FILE = "tfmtl.json"
FUSION_KINDS = ("product", "weighted_sum")
LENGTH_TRANSFORMS = ("none", "log1p", "sigmoid")


def default_fusion(tasks) -> dict:
    """PLE eq 1 without f: the product of every binary task's probability (weight 1); regression weight 0."""
    return {
        "kind": "product",
        "weights": {t.name: 1.0 if t.kind == "binary" else 0.0 for t in tasks},
        "length_feature": None,
        "length_transform": "none",
    }


def check_fusion(fusion: dict | None, tasks, spec) -> dict:
    """`fusion` over the default: known kind, weights only for known tasks, a dense length feature."""
    result = default_fusion(tasks)
    if fusion is None:
        return result
    if not isinstance(fusion, dict):
        raise ExportError(f"fusion must be a dict like {result}; got {type(fusion).__name__}.")
    unknown = sorted(set(fusion) - set(result))
    if unknown:
        raise ExportError(f"fusion has unknown key(s) {unknown}. Known: {sorted(result)}")
    weights = dict(fusion.get("weights") or {})
    stray = sorted(set(weights) - set(result["weights"]))
    if stray:
        raise ExportError(f"fusion weights name unknown task(s) {stray}. Tasks: {sorted(result['weights'])}")
    for task, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
            raise ExportError(f"fusion weight of task '{task}' must be a finite number; got {w!r}.")
    result.update({k: v for k, v in fusion.items() if k != "weights"})
    result["weights"].update({k: float(v) for k, v in weights.items()})
    if result["kind"] not in FUSION_KINDS:
        raise ExportError(f"fusion kind must be one of {FUSION_KINDS}; got {result['kind']!r}.")
    if result["length_transform"] not in LENGTH_TRANSFORMS:
        raise ExportError(
            f"fusion length_transform must be one of {LENGTH_TRANSFORMS}; got {result['length_transform']!r}."
        )
    length = result["length_feature"]
    if length is not None and (length not in spec or spec[length].kind != "dense"):
        raise ExportError(
            f"fusion length_feature={length!r} must name a dense feature. Dense features: "
            f"{[f.name for f in spec.of_kind('dense')]}"
        )
    return result


def feature_entry(feature) -> dict:
    shape = [int(feature.max_len)] if feature.kind == "sequence" else []
    return {"name": feature.name, "kind": feature.kind, "dtype": feature.dtype, "shape": shape}


def build_metadata(model, name: str, version: int, fusion: dict | None = None, metrics: dict | None = None) -> dict:
    """The tfmtl.json document of `model` exported as `name`/`version`."""
    import keras
    import tensorflow as tf

    import tfmtl

    spec = model.feature_spec
    return {
        "format": FORMAT,
        "model": {
            "name": name,
            "class": type(model).__name__,
            "zoo": model.metadata.get("model"),
            "version": int(version),
        },
        "tasks": [
            {"name": t.name, "kind": t.kind, "facets": dict(t.facets), "loss_weight": float(t.loss_weight)}
            for t in model.tasks
        ],
        "features": [feature_entry(f) for f in spec],
        "facet_groups": {g: list(names) for g, names in dict(model.metadata.get("facet_groups", {})).items()},
        "fusion": check_fusion(fusion, model.tasks, spec),
        "metrics": _jsonable(metrics or {}),
        "versions": {"tfmtl": tfmtl.__version__, "tensorflow": tf.__version__, "keras": keras.__version__},
    }


def write_metadata(version_dir, metadata: dict) -> Path:
    path = Path(version_dir) / ASSETS_EXTRA / METADATA_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metadata, indent=2, sort_keys=False, allow_nan=False) + "\n")
    return path


def read_metadata(version_dir) -> dict:
    """The tfmtl.json of an export version directory `BASE/NAME/VERSION`."""
    path = Path(version_dir) / ASSETS_EXTRA / METADATA_FILE
    if not path.is_file():
        raise ExportError(f"{path} does not exist: {version_dir} is not a tfmtl export version directory.")
    try:
        metadata = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ExportError(f"{path} is not valid JSON: {e}") from e
    if metadata.get("format") != FORMAT:
        raise ExportError(f"{path} has format {metadata.get('format')!r}; this tfmtl reads format {FORMAT}.")
    return metadata


def _jsonable(value):
    """Metrics as plain JSON: numpy scalars -> Python numbers, NaN/inf -> None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ExportError(f"metrics value {value!r} ({type(value).__name__}) is not JSON-able.")
