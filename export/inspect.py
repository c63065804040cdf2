"""What `tfmtl inspect BASE/NAME[/VERSION]` prints: the signatures and the tfmtl metadata.

The signatures are read from `saved_model.pb` itself (no graph is loaded), in the words of
`saved_model_cli show --all`; the metadata from `assets.extra/tfmtl.json`.

Example:

>>> import tempfile
>>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0")])
>>> tasks = [tfmtl.Task("click"), tfmtl.Task("finish")]
>>> model = tfmtl.models.build_model("mmoe", spec, tasks, num_experts=2, expert_units=[4])
>>> version_dir = tfmtl.export.export_saved_model(model, tempfile.mkdtemp(), "ple")
>>> print(describe(version_dir.parent))          # the latest version  # doctest: +ELLIPSIS
/.../ple/1  (versions: 1)
...
"""

from __future__ import annotations

from pathlib import Path

from tfmtl.export.layout import ExportError, list_versions, resolve_version_dir
from tfmtl.export.metadata import ASSETS_EXTRA, read_metadata
from tfmtl.export.warmup import WARMUP_FILE


def signatures(version_dir) -> dict:
    """Signature name -> {"inputs"|"outputs": {key: {"dtype", "shape", "tensor"}}, "method"}."""
    from tensorflow.core.framework import types_pb2
    from tensorflow.core.protobuf import saved_model_pb2

    path = Path(version_dir) / "saved_model.pb"
    if not path.is_file():
        raise ExportError(f"{path} does not exist: {version_dir} is not a SavedModel directory.")
    saved = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    meta_graph = next((m for m in saved.meta_graphs if "serve" in m.meta_info_def.tags), None)
    if meta_graph is None:
        raise ExportError(f"{path} has no MetaGraph tagged 'serve', so TF Serving cannot load it.")

    def tensors(infos):
        return {
            key: {
                "dtype": types_pb2.DataType.Name(info.dtype).removeprefix("DT_").lower(),
                "shape": [d.size for d in info.tensor_shape.dim]
                if not info.tensor_shape.unknown_rank
                else None,
                "tensor": info.name,
            }
            for key, info in sorted(infos.items())
        }

    return {
        name: {
            "inputs": tensors(sig.inputs),
            "outputs": tensors(sig.outputs),
            "method": sig.method_name,
        }
        for name, sig in sorted(meta_graph.signature_def.items())
        if not name.startswith("__")
    }


def inspect_export(path) -> dict:
    """What `describe` prints, as a dict: path, versions, signatures, metadata, warmup count."""
    version_dir = resolve_version_dir(path)
    warmup = version_dir / ASSETS_EXTRA / WARMUP_FILE
    return {
        "path": str(version_dir),
        "versions": list_versions(version_dir.parent),
        "signatures": signatures(version_dir),
        "metadata": read_metadata(version_dir),
        "warmup_requests": _count_records(warmup) if warmup.is_file() else 0,
    }


def describe(path) -> str:
    """A human-readable summary of an export (`BASE/NAME` -> its latest version)."""
    info = inspect_export(path)
    meta = info["metadata"]
    model = meta["model"]
    lines = [
        f"{info['path']}  (versions: {', '.join(map(str, info['versions'])) or 'none'})",
        f"model     {model['name']} v{model['version']}: {model['class']}, zoo "
        f"{model.get('zoo') or '-'}",
    ]
    for name, sig in info["signatures"].items():
        lines.append(f"signature {name}  ({sig['method']})")
        for role in ("inputs", "outputs"):
            for key, t in sig[role].items():
                lines.append(
                    f"  {role[:-1]:<7} {key:<24} {t['dtype']:<7} {t['shape']}  <- {t['tensor']}"
                )
    lines.append("tasks")
    for t in meta["tasks"]:
        facets = ", ".join(f"{k}={v}" for k, v in t["facets"].items()) or "-"
        lines.append(
            f"  {t['name']:<24} {t['kind']:<10} loss_weight {t['loss_weight']:g}  facets {facets}"
        )
    lines.append("features")
    for f in meta["features"]:
        lines.append(f"  {f['name']:<24} {f['kind']:<11} {f['dtype']:<7} {f['shape']}")
    if meta["facet_groups"]:
        lines.append("facet groups")
        lines.extend(f"  {g:<24} {', '.join(names)}" for g, names in meta["facet_groups"].items())
    fusion = meta["fusion"]
    weights = ", ".join(f"{k}^{v:g}" for k, v in fusion["weights"].items())
    lines.append(
        f"fusion    {fusion['kind']} of {weights}; length {fusion['length_feature'] or '-'} "
        f"({fusion['length_transform']})"
    )
    metrics = _flatten(meta["metrics"])
    if metrics:
        lines.append("metrics")
        lines.extend(f"  {k:<40} {v:.6g}" for k, v in metrics.items())
    lines.append("versions  " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    lines.append(f"warmup    {info['warmup_requests']} request(s) in {ASSETS_EXTRA}/{WARMUP_FILE}")
    return "\n".join(lines)


def _flatten(tree, prefix: str = "") -> dict:
    """Numeric leaves of nested metrics as {"test.ctr.auc": 0.91, ...}."""
    out = {}
    for key, value in (tree or {}).items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"{prefix}{key}"] = value
    return out


def _count_records(path: Path) -> int:
    import tensorflow as tf

    return sum(1 for _ in tf.data.TFRecordDataset(str(path)))
