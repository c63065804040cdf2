"""MovieLens split by user activity group: the MFH paper's 6-task setup (MFH §5.2.2, Table 6).

Leaf tasks `ctr.new`, `ctr.low`, `ctr.high`, `rating.new`, ... (behaviour × group) read the
loader's labels (`label_ctr`, `label_rating`) restricted to their group's rows through the
sample-space rule on `activity_group` ("new" 20-36, "low" 37-99, "high" >= 100 ratings per
user; see `tfmtl.data.movielens`). With `include=PAPER_INCLUSION` a leaf also trains on the
rows of the groups MFH §5.1.4 adds (new-user rows in every group, low-activity rows in the
high group); serving and the per-group metrics use only the row's own group's heads.

Example:

>>> data = load_movielens_groups(seed=0)
>>> [t.name for t in data.tasks]
['ctr.new', 'ctr.low', 'ctr.high', 'rating.new', 'rating.low', 'rating.high']
>>> flat2 = with_tasks(data, BASE_TASKS)     # the flat 2-task baseline's view of the same rows
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfmtl.data.dataset import MultiTaskData, Split
from tfmtl.facets import expand_tasks
from tfmtl.tasks import Task

GROUP_COLUMN = "activity_group"
GROUPS = ("new", "low", "high")
TOWER_UNITS = (64, 32)  # MFH §5.2.3: a (64, 32) MLP per task on the public datasets
HETEROGENEOUS_TOWERS = {"new": (64, 32), "low": (64, 32), "high": (128, 64)}  # MFH §5.1.2
BASE_TASKS = (
    Task("ctr", kind="binary", label="label_ctr", tower_units=TOWER_UNITS),
    Task("rating", kind="regression", label="label_rating", tower_units=TOWER_UNITS),
)


def movielens_leaf_tasks(
    include: dict | None = None, tower_units: dict | None = None
) -> list[Task]:
    """The 6 leaf tasks (behaviour × activity group), facets `behaviour` and `group`.

    Args:
        include: group -> other groups whose rows it also trains on (`PAPER_INCLUSION`).
        tower_units: group -> tower sizes (`HETEROGENEOUS_TOWERS`); default (64, 32) for all.
    """
    return expand_tasks(
        list(BASE_TASKS),
        "group",
        GROUPS,
        column=GROUP_COLUMN,
        include=include,
        tower_units=tower_units,
    )


def load_movielens_groups(
    data_dir_=None,
    variant: str = "100k",
    seed: int = 0,
    include: dict | None = None,
    heterogeneous: bool = False,
    embedding_dim: int = 8,
) -> MultiTaskData:
    """MovieLens (`load_movielens`, 8:1:1 split by `seed`) with the 6 leaf tasks plus `ctr`,
    `rating`.

    `data.tasks` holds the leaf tasks; the base tasks' labels ride along in every split's
    extras (`label_ctr`, `label_rating`), so `with_tasks(data, BASE_TASKS)` gives the flat
    2-task view and `base_labels(split)` feeds the per-group metrics. `include=PAPER_INCLUSION`
    turns on MFH §5.1.4's group sample inclusion.
    """
    from tfmtl.data.movielens import load_movielens

    leaves = movielens_leaf_tasks(include, HETEROGENEOUS_TOWERS if heterogeneous else None)
    data = load_movielens(
        data_dir_, variant, seed, tasks=leaves + list(BASE_TASKS), embedding_dim=embedding_dim
    )
    view = with_tasks(data, leaves)
    for name, split in view.splits.items():  # base labels for the flat 2-task view and the metrics
        split.extras = {
            **split.extras,
            **{t.label_column: data.splits[name].labels[t.name] for t in BASE_TASKS},
        }
    inclusion = "no group inclusion" if not include else f"group inclusion {dict(include)}"
    view.description = f"{data.description}; 6 leaf tasks (behaviour x activity group), {inclusion}"
    return view


def with_tasks(data: MultiTaskData, tasks) -> MultiTaskData:
    """The same rows and features with `tasks` as the model's tasks.

    A task's labels come from the split's labels under its name, else from the split's
    extras under its label column (where `load_movielens_groups` keeps the base labels).
    """
    tasks = list(tasks)
    splits = {}
    for name, split in data.splits.items():
        extras = getattr(split, "extras", {}) or {}
        labels = {}
        for t in tasks:
            if t.name in split.labels:
                labels[t.name] = split.labels[t.name]
            elif t.label_column in extras:
                labels[t.name] = np.asarray(extras[t.label_column], np.float32)
            else:
                raise ValueError(
                    f"Split '{name}' has no labels for task '{t.name}' (nor extras column "
                    f"'{t.label_column}'). "
                    f"Labels: {sorted(split.labels)}"
                )
        splits[name] = dataclasses.replace(split, labels=labels)
    return MultiTaskData(data.spec, tasks, splits, data.description)


def base_labels(split: Split) -> dict:
    """`{"ctr": [N], "rating": [N]}` of a `load_movielens_groups` split (for per-group metrics)."""
    return {t.name: np.asarray(split.extras[t.label_column], np.float32) for t in BASE_TASKS}


def row_groups(split: Split, column: str = GROUP_COLUMN) -> np.ndarray:
    """Each row's group: from `split.extras`, else from a feature column."""
    extras = getattr(split, "extras", {}) or {}
    if column in extras:
        return np.asarray(extras[column]).astype(str)
    if column in split.features:
        return np.asarray(split.features[column]).astype(str)
    raise KeyError(
        f"Split has no column '{column}' in extras {sorted(extras)} or features "
        f"{sorted(split.features)}"
    )
