"""The demo dataset: the MMoE synthetic data with the tasks of a video feed ranker.

`load_synthetic`'s two correlated regression targets become three tasks, as in PLE's
video recommendation setting (Tang et al., RecSys'20 §3, eq 1 and eq 9):

- `click` (binary): `y_a` above its training median (a 50% click rate);
- `finish` (binary): `y_b` above its training median, only in the space of clicked samples
  (PLE eq 9: `sample_space="click == 1"`, NaN elsewhere);
- `watch_time` (regression): `y_b`, also only for clicked samples.

The thresholds come from the train split alone. So the demo model has probabilities to fuse (PLE eq
1 over `click` and `finish`, times
f(`video_len`)) and a regression head the default fusion leaves out. Needs no download.

Example:

>>> data = load_demo(rows=4000)
>>> [(t.name, t.kind) for t in data.tasks]
[('click', 'binary'), ('finish', 'binary'), ('watch_time', 'regression')]
"""

from __future__ import annotations

import numpy as np

from tfmtl.data.dataset import MultiTaskData, Split
from tfmtl.data.synthetic import load_synthetic
from tfmtl.tasks import Task

DEMO_TASKS = (
    Task("click", kind="binary", tower_units=(16,)),
    Task("finish", kind="binary", sample_space="click == 1", tower_units=(16,)),
    Task(
        "watch_time",
        kind="regression",
        label="watch",
        sample_space="click == 1",
        loss_weight=0.2,
        tower_units=(16,),
    ),
)


def load_demo(
    rows: int = 8_000, correlation: float = 0.7, dim: int = 16, seed: int = 0
) -> MultiTaskData:
    """`load_synthetic(rows, correlation, dim, seed)` with the click / finish / watch_time tasks."""
    base = load_synthetic(rows=rows, correlation=correlation, dim=dim, seed=seed)
    train = base["train"].labels
    click_at, finish_at = float(np.median(train["task_a"])), float(np.median(train["task_b"]))
    splits = {}
    for name, split in base.splits.items():
        y_a, y_b = split.labels["task_a"], split.labels["task_b"]
        columns = {
            "click": (y_a > click_at).astype(np.float32),
            "finish": (y_b > finish_at).astype(np.float32),
            "watch": y_b,
        }
        source = f"demo data ({name} split)"
        splits[name] = Split(
            features=split.features, labels={t.name: t.labels(columns, source) for t in DEMO_TASKS}
        )
    description = (
        f"Demo (MMoE synthetic -> click/finish/watch_time): {rows:,} rows, "
        f"correlation {correlation}, seed {seed}"
    )
    return MultiTaskData(base.spec, list(DEMO_TASKS), splits, description)
