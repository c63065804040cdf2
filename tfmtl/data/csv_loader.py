"""A generic loader: a CSV file with a header row, driven by a feature spec and tasks."""

from __future__ import annotations

import numpy as np

from tfmtl.data.dataset import MultiTaskData, build_splits, split_indices
from tfmtl.data.text_table import read_table


def read_csv_columns(path, spec, tasks, delimiter: str = ",") -> dict:
    """Columns of `path` (with a header) that the spec and tasks read; numbers where expected.

    Dense features and labels are float64 (an empty cell is NaN: a missing label), int64
    categorical features are integers, the rest text. Only these columns are converted.
    """
    wanted = list(spec.names) + [t.label_column for t in tasks]
    wanted += [t.sample_space.split()[0] for t in tasks if t.sample_space]
    wanted = list(dict.fromkeys(wanted))
    numeric = [f.name for f in spec if f.kind == "dense"] + [t.label_column for t in tasks]
    integer = [f.name for f in spec if f.kind == "categorical" and f.dtype == "int64"]
    return read_table(path, delimiter=delimiter, columns=wanted, numeric=numeric, integer=integer)


def load_csv(
    path, spec, tasks, delimiter: str = ",", seed: int = 0, fractions=(0.8, 0.1, 0.1)
) -> MultiTaskData:
    """A CSV file as `MultiTaskData`, split randomly by `seed`. Empty label cells are missing
    labels.

    Example:

    >>> import pathlib, tempfile
    >>> from tfmtl import Task
    >>> from tfmtl.features import DenseFeature, FeatureSpec
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "shop.csv"
    >>> _ = path.write_text("price,click\\n" + "".join(f"{i},{i % 2}\\n" for i in range(10)))
    >>> data = load_csv(path, FeatureSpec([DenseFeature("price")]), [Task("click", label="click")])
    >>> len(data["train"]), len(data["test"])
    (8, 1)
    """
    columns = read_csv_columns(path, spec, tasks, delimiter)
    n = len(next(iter(columns.values())))
    lines = np.arange(n) + 2  # the header is line 1
    data = build_splits(
        columns, spec, tasks, split_indices(n, seed, fractions), str(path), lines=lines
    )
    data.description = f"CSV {path}: {n:,} rows, split {fractions} by seed {seed}"
    return data
