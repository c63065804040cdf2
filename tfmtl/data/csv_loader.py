"""A generic loader: a CSV file (or TFRecord of tf.Example) driven by a feature spec and tasks."""

from __future__ import annotations

import csv

import numpy as np

from tfmtl.data.dataset import MultiTaskData, build_splits, split_indices


def read_csv_columns(path, spec, tasks, delimiter: str = ",") -> dict:
    """Columns of `path` (with a header) that the spec and tasks read; numbers where expected."""
    with open(path, newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path} is empty: expected a header row naming the columns.") from None
        rows = list(reader)
    wanted = set(spec.names) | {t.label_column for t in tasks}
    wanted |= {t.sample_space.split()[0] for t in tasks if t.sample_space}
    missing = sorted(wanted - set(header))
    if missing:
        raise ValueError(f"{path}: column(s) {missing} not in the header {header}.")
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"{path}: line {i + 2:,} has {len(row)} fields; the header has {len(header)}.")
    table = np.asarray(rows, dtype=str).reshape(len(rows), len(header))
    numeric = {f.name for f in spec if f.kind == "dense"} | {t.label_column for t in tasks}
    columns = {}
    for name in wanted:
        raw = table[:, header.index(name)]
        columns[name] = _numbers(raw, name, path) if name in numeric else raw
    return columns


def load_csv(path, spec, tasks, delimiter: str = ",", seed: int = 0, fractions=(0.8, 0.1, 0.1)) -> MultiTaskData:
    """A CSV file as `MultiTaskData`, split randomly by `seed`. Empty label cells are missing labels."""
    columns = read_csv_columns(path, spec, tasks, delimiter)
    n = len(next(iter(columns.values())))
    data = build_splits(columns, spec, tasks, split_indices(n, seed, fractions), str(path))
    data.description = f"CSV {path}: {n:,} rows, split {fractions} by seed {seed}"
    return data


def _numbers(raw: np.ndarray, name: str, path) -> np.ndarray:
    out = np.full(len(raw), np.nan)
    for i, text in enumerate(raw):
        if text.strip() == "":
            continue
        try:
            out[i] = float(text)
        except ValueError:
            raise ValueError(f"{path}: line {i + 2:,}, column '{name}' is {text!r}, not a number.") from None
    return out
