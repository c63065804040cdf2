"""`tfmtl datasets`: the built-in datasets and the options each takes."""

from __future__ import annotations


def register(sub) -> None:
    d = sub.add_parser("datasets", help="list the built-in datasets (data.dataset in a run config)")
    d.set_defaults(func=run_datasets)


def run_datasets(args) -> int:
    from tfmtl.data.registry import available_datasets, dataset_parameters

    names = available_datasets()
    width = max(map(len, names))
    for name in names:
        options = sorted(
            p.rstrip("_") for p in dataset_parameters(name) & {"data_dir_", "rows", "protocol"}
        )
        print(f"{name:<{width}}  options: {', '.join(options) or 'none'}")
    return 0
