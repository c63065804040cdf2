"""A user's data files (CSV, TSV, Parquet, TFRecord of tf.Example) read as raw columns.

Every column comes back as one numpy array: float64 where every cell is a number or missing
(a missing cell is NaN), else text (an object array of `str`, a missing cell ""). Line
numbers in errors are the file's own.

Example:

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "shop.csv"
>>> _ = path.write_text("price, city\\n3.5, paris\\n?, rome\\n")
>>> table = read_columns(path, skip_initial_space=True)
>>> table.columns["price"].tolist(), table.columns["city"].tolist(), table.line(1)
([3.5, nan], ['paris', 'rome'], 'line 3')
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from tfmtl.data.text_table import read_table

MISSING_VALUES = ("", "?", "NA", "NULL")


@dataclasses.dataclass
class Table:
    """Raw columns of one file, and how its rows map to the file's lines or records."""

    path: Path
    columns: dict
    first_line: int | None  # the file line of row 0 (text formats); None: rows are records

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def line(self, row: int) -> str:
        """Where row `row` is in the file, as a person would look for it."""
        if self.first_line is None:
            return f"record {row + 1:,}"
        return f"line {self.first_line + row:,}"


def read_columns(
    path,
    format: str | None = None,
    header: bool = True,
    column_names=None,
    delimiter: str | None = None,
    skip_initial_space: bool = False,
    missing_values=MISSING_VALUES,
    encoding: str = "utf8",
) -> Table:
    """Read `path` as a `Table` (see the module docstring); `format` defaults from the suffix."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file.")
    format = format or _format_of(path)
    if format in ("csv", "tsv"):
        delimiter = delimiter or ("\t" if format == "tsv" else ",")
        if not path.stat().st_size:
            raise ValueError(f"{path} is empty.")
        names = list(column_names) if column_names else None
        if names is None and not header:
            names = [
                f"column_{i + 1}" for i in range(len(_first_line(path, encoding).split(delimiter)))
            ]
        columns = read_table(
            path,
            names=names,
            delimiter=delimiter,
            strip=skip_initial_space,
            missing_values=tuple(missing_values),
            infer_numbers=True,
            encoding=encoding,
        )
        table = Table(path, columns, first_line=2 if names is None else 1)
    elif format == "parquet":
        table = Table(path, _parquet(path, missing_values), first_line=None)
    elif format == "tfrecord":
        table = Table(path, _tfrecord(path), first_line=None)
    else:
        raise ValueError(
            f"{path}: unknown format {format!r}; choose one of csv, tsv, parquet, tfrecord."
        )
    if not len(table):
        raise ValueError(
            f"{path} has {'a header but ' if format in ('csv', 'tsv') and header else ''}no data "
            "rows."
        )
    return table


def _format_of(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    for suffix, format in (
        (".tsv", "tsv"),
        (".parquet", "parquet"),
        (".tfrecord", "tfrecord"),
        (".tfrecords", "tfrecord"),
    ):
        if name.endswith(suffix):
            return format
    return "csv"


def _first_line(path: Path, encoding: str) -> str:
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding=encoding) as f:
        return f.readline().rstrip("\r\n")


def _parquet(path: Path, missing_values) -> dict:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    out = {}
    for name in table.column_names:
        column = table.column(name).combine_chunks()
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        if (
            pa.types.is_integer(column.type)
            or pa.types.is_floating(column.type)
            or pa.types.is_boolean(column.type)
        ):
            out[name] = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
            continue
        text = pc.fill_null(pc.cast(column, pa.string()), "")
        if missing_values:
            text = pc.if_else(
                pc.is_in(text, value_set=pa.array(list(missing_values), pa.string())), "", text
            )
        encoded = text.dictionary_encode()
        out[name] = encoded.dictionary.to_numpy(zero_copy_only=False).astype(object)[
            encoded.indices.to_numpy()
        ]
    return out


def _tfrecord(path: Path) -> dict:
    """Scalar features of serialized `tf.train.Example`s; keys and types from the first record."""
    import tensorflow as tf

    compression = "GZIP" if path.suffix == ".gz" else ""
    records = tf.data.TFRecordDataset(str(path), compression_type=compression)
    first = next(iter(records.take(1)), None)
    if first is None:
        return {}
    example = tf.train.Example.FromString(first.numpy())
    spec = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        if kind == "bytes_list":
            spec[name] = tf.io.FixedLenFeature([], tf.string, default_value="")
        elif kind == "int64_list":
            spec[name] = tf.io.FixedLenFeature([], tf.int64, default_value=0)
        else:
            spec[name] = tf.io.FixedLenFeature([], tf.float32, default_value=float("nan"))
    parts = {name: [] for name in spec}
    for batch in records.batch(8192):
        try:
            parsed = tf.io.parse_example(batch, spec)
        except tf.errors.InvalidArgumentError as e:
            raise ValueError(
                f"{path}: a record does not match the first one's scalar features "
                f"({e.message.splitlines()[0]})."
            ) from None
        for name, values in parsed.items():
            parts[name].append(values.numpy())
    out = {}
    for name, chunks in parts.items():
        values = np.concatenate(chunks)
        out[name] = (
            values.astype(np.float64)
            if values.dtype != object
            else np.array([v.decode("utf-8") for v in values], dtype=object)
        )
    return out
