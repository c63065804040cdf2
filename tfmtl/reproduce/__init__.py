"""The papers' tables, one command each: `tfmtl reproduce ple-census`.

Each table is a run config in `configs/` (the `data:`, `tasks:`, `model:` and `training:`
sections `tfmtl train --config` reads) and a small module beside it: the model variants (each a
`model:` section over the config's), the paper's numbers, and how a run is scored. `runner`
trains every variant x seed through `engine` (resumable JSONL) and writes the Markdown.

Example:

>>> available_tables()[:3]
['adatt-census', 'dml-movielens', 'dtrn-movielens']
>>> load_table("ple-census").CONFIG
'ple_census.yaml'
"""

from __future__ import annotations

import importlib
from pathlib import Path

# table name -> its module in this package
TABLES = {
    "ple-census": "ple_census",
    "adatt-census": "adatt_census",
    "esmm-funnel": "esmm_funnel",
    "dml-movielens": "dml_movielens",
    "mfh-movielens": "mfh_movielens",
    "dtrn-movielens": "dtrn_movielens",
}
CONFIGS = Path(__file__).resolve().parent / "configs"

__all__ = ["CONFIGS", "TABLES", "available_tables", "load_table"]


def available_tables() -> list[str]:
    return sorted(TABLES)


def load_table(name: str):
    """The module that defines table `name`; a ValueError lists the tables if there is none."""
    if name not in TABLES:
        raise ValueError(
            f"no table {name!r}; choose one of: {', '.join(available_tables())} "
            "(`tfmtl reproduce --list`)."
        )
    return importlib.import_module(f"tfmtl.reproduce.{TABLES[name]}")
