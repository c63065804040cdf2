"""Datasets and tf.data pipelines. Loaders read `TFMTL_DATA_DIR`.

Names load on first use (`tfmtl.data.load_census`), so reading a run config or listing the
datasets imports neither TensorFlow nor a loader it does not need.
"""

import importlib

_EXPORTS = {
    "load_census": "census",
    "load_csv": "csv_loader",
    "load_movielens": "movielens",
    "MultiTaskData": "dataset",
    "Split": "dataset",
    "build_splits": "dataset",
    "split_indices": "dataset",
    "data_dir": "paths",
    "to_dataset": "pipeline",
    "available_datasets": "registry",
    "load_dataset": "registry",
    "register_dataset": "registry",
    "load_synthetic": "synthetic",
    "mmoe_synthetic": "synthetic",
    "FunnelData": "funnel",
    "load_funnel": "funnel",
    "behaviour_sequences": "sequences",
    "load_movielens_sequences": "sequences",
    "load_demo": "demo",
    "load_movielens_groups": "movielens_groups",
    "load_short_video": "short_video",
    "load_run_data": "run_data",
    "read_columns": "files",
    "infer_features": "infer",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"tfmtl.data.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'tfmtl.data' has no attribute {name!r}")
