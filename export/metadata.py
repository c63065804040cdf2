"""`assets.extra/tfmtl.json` of an export: the document `tfmtl.contract` defines, built from a
model.

Tasks (name, kind, facets, loss weight), raw features (name, kind, dtype, shape, a few valid
sample values), facet groups and their routing, the head that is the entire-space
conversion (ESMM, AITM), the default fusion (PLE eq 1: `score = prod_k p_k^w_k * f(length)`)
and its named variants with their traffic shares (`tfmtl.fusion_variants`), training metrics and
library versions. The names below are `tfmtl.contract`'s, re-exported.

Example:

>>> import tempfile
>>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0")])
>>> tasks = [tfmtl.Task("click"), tfmtl.Task("finish")]
>>> model = tfmtl.models.build_model("mmoe", spec, tasks, num_experts=2, expert_units=[4])
>>> meta = build_metadata(model, name="ranker", version=3)
>>> meta["fusion"]["kind"], meta["fusion"]["weights"]
('product', {'click': 1.0, 'finish': 1.0})
>>> version_dir = Path(tempfile.mkdtemp())
>>> _ = write_metadata(version_dir, meta)
>>> read_metadata(version_dir)["model"]["version"]
3
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from tfmtl import contract, fusion_variants
from tfmtl.contract import (
    ASSETS_EXTRA,
    FORMAT,
    FUSION_KINDS,
    LENGTH_TRANSFORMS,
    METADATA_FILE,
    ContractError,
)
from tfmtl.export.layout import ExportError

__all__ = [
    "ASSETS_EXTRA",
    "FORMAT",
    "FUSION_KINDS",
    "LENGTH_TRANSFORMS",
    "METADATA_FILE",
    "build_metadata",
    "check_fusion",
    "default_fusion",
    "feature_entry",
    "read_metadata",
    "write_metadata",
]
SAMPLE_VALUES = 5


def default_fusion(tasks, entire_space_task: str | None = None) -> dict:
    """`tfmtl.contract.default_fusion`: the product of every binary head, or the entire-space head
    alone.
    """
    return contract.default_fusion(tasks, entire_space_task)


def check_fusion(fusion: dict | None, tasks, spec, entire_space_task: str | None = None) -> dict:
    """`fusion` over the default (`tfmtl.contract.check_fusion`); length: a `spec` dense feature."""
    try:
        return contract.check_fusion(
            fusion, tasks, [f.name for f in spec.of_kind("dense")], entire_space_task
        )
    except ContractError as e:
        raise ExportError(str(e)) from None


def _without_variants(fusion):
    return (
        {k: v for k, v in fusion.items() if k not in ("variants", "traffic")}
        if isinstance(fusion, dict)
        else fusion
    )


def _variants(fusion, tasks, spec, entire_space_task) -> dict:
    """`fusion_variants` and `fusion_traffic` from `fusion["variants"]`, `fusion["traffic"]`
    (`tfmtl.fusion_variants`).
    """
    if not isinstance(fusion, dict):
        return {}
    try:
        return fusion_variants.check_variants(
            fusion.get("variants"),
            fusion.get("traffic"),
            tasks,
            [f.name for f in spec.of_kind("dense")],
            entire_space_task,
        )
    except ContractError as e:
        raise ExportError(f"fusion.{e}") from None


def feature_entry(feature, spec=None) -> dict:
    """A feature's tfmtl.json entry; with its `spec`, a few valid raw values (sequences: their
    elements).
    """
    shape = [int(feature.max_len)] if feature.kind == "sequence" else []
    entry = {"name": feature.name, "kind": feature.kind, "dtype": feature.dtype, "shape": shape}
    if spec is not None:
        entry["sample_values"] = _sample_values(feature, spec)
        if feature.kind == "sequence":
            entry["padding"] = (
                int(feature.padding) if feature.dtype == "int64" else str(feature.padding)
            )
    return entry


def build_metadata(
    model, name: str, version: int, fusion: dict | None = None, metrics: dict | None = None
) -> dict:
    """The tfmtl.json document of `model` exported as `name`/`version`, checked against the
    contract.
    """
    import keras
    import tensorflow as tf

    import tfmtl

    spec, meta = model.feature_spec, dict(model.metadata)
    groups = {str(g): list(names) for g, names in dict(meta.get("facet_groups", {})).items()}
    try:
        entire = contract.entire_space_task(meta, model.tasks)
        routing = contract.facet_routing(
            model.tasks, groups, meta.get("default_facet_group"), meta.get("facet_group_required")
        )
    except ContractError as e:
        raise ExportError(f"Model '{model.name}' metadata: {e}") from None
    document = {
        "format": FORMAT,
        "model": {
            "name": name,
            "class": type(model).__name__,
            "zoo": meta.get("model"),
            "version": int(version),
            "family": meta.get("family") or meta.get("model"),
        },
        "tasks": [
            {
                "name": t.name,
                "kind": t.kind,
                "facets": dict(t.facets),
                "loss_weight": float(t.loss_weight),
            }
            for t in model.tasks
        ],
        "features": [feature_entry(f, spec) for f in spec],
        "entire_space_task": entire,
        "facet_groups": groups,
        **routing,
        "fusion": check_fusion(_without_variants(fusion), model.tasks, spec, entire),
        **_variants(fusion, model.tasks, spec, entire),
        "metrics": _jsonable(metrics or {}),
        "versions": {
            "tfmtl": tfmtl.__version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
    }
    try:
        return contract.parse_metadata(document, source=f"tfmtl.json of '{name}' version {version}")
    except ContractError as e:
        raise ExportError(str(e)) from None


def write_metadata(version_dir, metadata: dict) -> Path:
    path = contract.metadata_path(version_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metadata, indent=2, sort_keys=False, allow_nan=False) + "\n")
    return path


def read_metadata(version_dir) -> dict:
    """The checked tfmtl.json of an export version directory `BASE/NAME/VERSION`
    (`tfmtl.contract.read_metadata`).
    """
    try:
        return contract.read_metadata(version_dir)
    except ContractError as e:
        raise ExportError(str(e)) from None


def _sample_values(feature, spec) -> list | None:
    """A few raw values the model takes: mean +- std for dense, the commonest vocabulary entries;
    hashed: None.
    """
    if feature.kind == "dense":
        z = [feature.mean + feature.std * k for k in (0.0, -0.5, 0.5, -1.0, 1.0)]
        if feature.transform == "log1p":
            z = [math.expm1(max(v, 0.0)) for v in z]
        return [float(f"{v:.6g}") for v in z if math.isfinite(v)] or [0.0]
    vocab = feature.vocabulary
    if feature.kind == "sequence" and feature.share_with:
        vocab = spec[feature.share_with].vocabulary
    if not vocab:
        return None
    cast = int if feature.dtype == "int64" else str
    return [cast(v.item() if hasattr(v, "item") else v) for v in vocab[:SAMPLE_VALUES]]


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
