"""Export: tfmtl models to versioned SavedModels for TF Serving.

>>> import tempfile
>>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0")])
>>> tasks = [tfmtl.Task("click"), tfmtl.Task("finish")]
>>> model = tfmtl.models.build_model("mmoe", spec, tasks, num_experts=2, expert_units=[4])
>>> path = tfmtl.export.export_saved_model(model, base=tempfile.mkdtemp(), name="ranker")
>>> [task["name"] for task in tfmtl.export.read_metadata(path)["tasks"]]
['click', 'finish']
"""

from tfmtl.export.examples import parsing_spec, serialize_examples, signature_specs
from tfmtl.export.inspect import describe, inspect_export, signatures
from tfmtl.export.layout import ExportError, list_versions, next_version, resolve_version_dir
from tfmtl.export.metadata import build_metadata, default_fusion, read_metadata
from tfmtl.export.saved_model import SIGNATURES, export_saved_model, load_exportable
from tfmtl.export.warmup import read_warmup, synthetic_rows, warmup_logs

__all__ = [
    "ExportError",
    "SIGNATURES",
    "build_metadata",
    "default_fusion",
    "describe",
    "export_saved_model",
    "inspect_export",
    "list_versions",
    "load_exportable",
    "next_version",
    "parsing_spec",
    "read_metadata",
    "read_warmup",
    "resolve_version_dir",
    "serialize_examples",
    "signature_specs",
    "signatures",
    "synthetic_rows",
    "warmup_logs",
]
