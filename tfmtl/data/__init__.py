"""Datasets and tf.data pipelines. Loaders read `TFMTL_DATA_DIR`."""

from tfmtl.data.census import load_census
from tfmtl.data.csv_loader import load_csv
from tfmtl.data.movielens import load_movielens
from tfmtl.data.dataset import MultiTaskData, Split, build_splits, split_indices
from tfmtl.data.paths import data_dir
from tfmtl.data.pipeline import to_dataset
from tfmtl.data.registry import available_datasets, load_dataset, register_dataset
from tfmtl.data.synthetic import load_synthetic, mmoe_synthetic

__all__ = [
    "MultiTaskData", "Split", "available_datasets", "build_splits", "data_dir", "load_census", "load_csv",
    "load_dataset", "load_movielens", "load_synthetic", "mmoe_synthetic", "register_dataset", "split_indices", "to_dataset",
]
from tfmtl.data.funnel import FunnelData, load_funnel

__all__ += ["FunnelData", "load_funnel"]
from tfmtl.data.sequences import behaviour_sequences, load_movielens_sequences

__all__ += ["behaviour_sequences", "load_movielens_sequences"]
from tfmtl.data.demo import load_demo

__all__ += ["load_demo"]
from tfmtl.data.movielens_groups import load_movielens_groups
from tfmtl.data.short_video import load_short_video

__all__ += ["load_movielens_groups", "load_short_video"]
