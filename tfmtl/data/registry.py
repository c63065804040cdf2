"""Datasets by name, for the CLI and benchmarks: `load_dataset("census")`.

A dataset is registered once, as the import path of its loader plus fixed arguments, so the
registry imports a loader only when it is used and can tell which options (`data_dir_`,
`protocol`, `rows`) a dataset takes.

Example:

>>> data = load_dataset("synthetic", rows=2000)
>>> "data_dir_" in dataset_parameters("census"), "data_dir_" in dataset_parameters("synthetic")
(True, False)
"""

from __future__ import annotations

import importlib
import inspect
from typing import Callable

_DATASETS: dict[str, tuple] = {}


def register_dataset(name: str, loader: Callable | str, **fixed) -> None:
    """`loader(**kwargs) -> MultiTaskData` (or its "module:function" path) becomes
    `load_dataset(name)`.
    """
    _DATASETS[name] = (loader, fixed)


def available_datasets() -> list[str]:
    return sorted(_DATASETS)


def _loader(name: str) -> tuple[Callable, dict]:
    if name not in _DATASETS:
        raise ValueError(
            f"Unknown dataset '{name}'. Choose one of: {', '.join(available_datasets())}"
        )
    loader, fixed = _DATASETS[name]
    if isinstance(loader, str):
        module, function = loader.split(":")
        loader = getattr(importlib.import_module(module), function)
    return loader, fixed


def dataset_parameters(name: str) -> set[str]:
    """The keyword arguments `load_dataset(name, ...)` accepts."""
    loader, fixed = _loader(name)
    return set(inspect.signature(loader).parameters) - set(fixed)


def load_dataset(name: str, **kwargs):
    loader, fixed = _loader(name)
    return loader(**fixed, **kwargs)


register_dataset("census", "tfmtl.data.census:load_census")
register_dataset(
    "census3", "tfmtl.data.census:load_census", tasks=("income", "never_married", "education")
)
register_dataset("synthetic", "tfmtl.data.synthetic:load_synthetic")
register_dataset("movielens100k", "tfmtl.data.movielens:load_movielens", variant="100k")
register_dataset("movielens1m", "tfmtl.data.movielens:load_movielens", variant="1m")
register_dataset("movielens_seq", "tfmtl.data.sequences:load_movielens_sequences")
register_dataset("movielens_groups", "tfmtl.data.movielens_groups:load_movielens_groups")
register_dataset(
    "movielens1m_groups", "tfmtl.data.movielens_groups:load_movielens_groups", variant="1m"
)
register_dataset("funnel", "tfmtl.data.funnel:load_funnel")
register_dataset("demo", "tfmtl.data.demo:load_demo")
register_dataset("short_video", "tfmtl.data.short_video:load_short_video")
