"""MultiTaskData: an adapted feature spec, the tasks, and named splits of raw columns."""

from __future__ import annotations

import dataclasses

import numpy as np

from tfmtl.features import FeatureSpec
from tfmtl.tasks import check_tasks


@dataclasses.dataclass
class Split:
    """Raw feature columns and per-task labels (NaN outside a task's sample space).

    `extras`: raw columns that are not model inputs (ids, timestamps, user groups), row-aligned
    with `features`, for evaluation and analysis (e.g. MovieLens' `activity_group`).
    """

    features: dict
    labels: dict
    extras: dict = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(next(iter(self.features.values())))


@dataclasses.dataclass
class MultiTaskData:
    """What a loader returns: `spec` adapted on the train split only, `tasks`, `splits`.

    `description` says where the data came from and which split protocol applies; `ids`,
    whether categorical and sequence columns hold `spec.encode`'s ids (`encoded()`) rather
    than raw values.

    Example:

    >>> data = tfmtl.data.load_synthetic(rows=1000)
    >>> ds = data.dataset("train", batch_size=128, shuffle=True)
    """

    spec: FeatureSpec
    tasks: list
    splits: dict
    description: str = ""
    ids: bool = dataclasses.field(default=False, kw_only=True)  # subclasses add fields after

    def dataset(
        self,
        split: str,
        batch_size: int = 1024,
        shuffle: bool = False,
        seed: int = 0,
        tasks=None,
        **kwargs,
    ):
        """`(features, labels)` batches of `split`; `tasks` (names) keeps only those labels.

        So a model of some of the data's tasks (AITM's click -> purchase of a three-task funnel)
        fits as it is.
        """
        from tfmtl.data.pipeline import to_dataset

        s = self[split]
        labels = s.labels
        if tasks is not None:
            missing = [t for t in tasks if t not in labels]
            if missing:
                raise ValueError(
                    f"The data has no labels for task(s) {missing}; its tasks: {sorted(labels)}"
                )
            labels = {t: labels[t] for t in tasks}
        return to_dataset(
            s.features, labels, batch_size=batch_size, shuffle=shuffle, seed=seed, **kwargs
        )

    def encoded(self) -> "MultiTaskData":
        """The same data with every categorical and sequence column as the ids of
        `spec.encode`, for a model built with `lookup=False` (JAX and torch have no strings).

        >>> ids = tfmtl.data.load_synthetic(rows=100).encoded()
        >>> str(ids["train"].features["segment"].dtype)
        'int32'
        """
        splits = {
            name: dataclasses.replace(s, features=self.spec.encode(s.features))
            for name, s in self.splits.items()
        }
        return dataclasses.replace(self, splits=splits, ids=True)

    def __getitem__(self, split: str) -> Split:
        if split not in self.splits:
            raise KeyError(f"No split '{split}'. Splits: {sorted(self.splits)}")
        return self.splits[split]


def build_splits(
    columns: dict, spec: FeatureSpec, tasks, indices: dict, source: str, lines=None
) -> MultiTaskData:
    """Cut raw `columns` into splits by row `indices` (name -> int array), adapt `spec` on "train".

    Label columns are never model inputs: a spec that reads a task's label column is an error.
    `lines`: each row's line in the file, so an error names the line a person would look at.
    """
    tasks = check_tasks(tasks)
    leaks = sorted({t.label_column for t in tasks} & set(spec.names))
    if leaks:
        raise ValueError(
            f"Label column(s) {leaks} are also features: a label's source must not be an input."
        )
    rows = np.arange(len(next(iter(columns.values()))))
    unit = "row" if lines is None else "line"
    lines = rows if lines is None else np.asarray(lines)
    spec.check(columns, source, lines, unit)
    all_labels = {t.name: t.labels(columns, source, lines, unit) for t in tasks}
    indices = {name: rows_of(idx) for name, idx in indices.items()}
    train = indices["train"]
    adapted = spec.adapt(
        {n: np.asarray(columns[n])[train] for n in spec.names}, source, lines[train], unit
    )
    splits = {
        name: Split(
            features={n: _as_input(np.asarray(columns[n])[idx], adapted[n]) for n in adapted.names},
            labels={t: y[idx] for t, y in all_labels.items()},
        )
        for name, idx in indices.items()
    }
    return MultiTaskData(adapted, tasks, splits)


def rows_of(idx):
    """Row indices as a slice when they are one ascending run (a view, not a copy), else as is."""
    idx = np.asarray(idx)
    if (
        idx.ndim == 1
        and idx.size > 1
        and idx[-1] - idx[0] == idx.size - 1
        and np.all(np.diff(idx) == 1)
    ):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def _as_input(values: np.ndarray, feature) -> np.ndarray:
    if feature.kind == "dense":
        return values.astype(np.float32, copy=False)
    if feature.dtype == "string":
        if values.dtype == object and (not values.size or isinstance(values.flat[0], str)):
            return values  # already Python strings (a reader's shared references): no copy per row
        return values.astype(str).astype(object)
    return values.astype(np.int64, copy=False)


def split_indices(n: int, seed: int, fractions=(0.6, 0.2, 0.2)) -> dict:
    """Permute `range(n)` with `numpy.random.default_rng(seed)`, cut train/validation/test."""
    order = np.random.default_rng(seed).permutation(n)
    a = int(round(fractions[0] * n))
    b = a + int(round(fractions[1] * n))
    return {"train": order[:a], "validation": order[a:b], "test": order[b:]}
