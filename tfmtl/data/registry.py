"""Datasets by name, for the CLI and benchmarks: `load_dataset("census")`."""

from __future__ import annotations

from typing import Callable

_DATASETS: dict[str, Callable] = {}


def register_dataset(name: str, loader: Callable) -> None:
    """`loader(**kwargs) -> MultiTaskData` becomes `load_dataset(name, **kwargs)`."""
    _DATASETS[name] = loader


def available_datasets() -> list[str]:
    return sorted(_DATASETS)


def load_dataset(name: str, **kwargs):
    if name not in _DATASETS:
        raise ValueError(f"Unknown dataset '{name}'. Choose one of: {', '.join(available_datasets())}")
    return _DATASETS[name](**kwargs)


def _census(**kw):
    from tfmtl.data.census import load_census

    return load_census(**kw)


def _census3(**kw):
    from tfmtl.data.census import load_census

    return load_census(tasks=("income", "never_married", "education"), **kw)


def _synthetic(**kw):
    from tfmtl.data.synthetic import load_synthetic

    return load_synthetic(**kw)


def _movielens(**kw):
    from tfmtl.data.movielens import load_movielens

    return load_movielens(**kw)


def _funnel(**kw):
    from tfmtl.data.funnel import load_funnel

    return load_funnel(**kw)


def _movielens_seq(**kw):
    from tfmtl.data.sequences import load_movielens_sequences

    return load_movielens_sequences(**kw)


register_dataset("census", _census)
register_dataset("census3", _census3)
register_dataset("synthetic", _synthetic)
register_dataset("movielens", _movielens)
register_dataset("funnel", _funnel)
register_dataset("movielens_seq", _movielens_seq)


def _demo(**kw):
    from tfmtl.data.demo import load_demo

    return load_demo(**kw)


register_dataset("demo", _demo)


def _short_video(**kw):
    from tfmtl.data.short_video import load_short_video

    return load_short_video(**kw)


def _movielens_groups(**kw):
    from tfmtl.data.movielens_groups import load_movielens_groups

    return load_movielens_groups(**kw)


register_dataset("short_video", _short_video)
register_dataset("movielens_groups", _movielens_groups)
