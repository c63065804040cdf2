"""Delimited text files (plain or gzip) read column-wise into numpy, with pyarrow.

One pass over the bytes, no Python work per row: pyarrow parses the file in blocks, every
column is read as text (optionally trimmed of surrounding spaces), and then

- a numeric column is cast in one step (an empty cell is NaN; anything else that is not a
  number is an error naming the file, line and column);
- a text column is dictionary-encoded, so the numpy array it becomes is an object array of
  references to its few distinct strings (8 bytes a row, whatever the strings' length).

A read that takes more than a couple of seconds shows a row counter on stderr.

Example:

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
>>> _ = path.write_text("city,clicks\\nparis,3\\nrome,\\n")
>>> table = read_table(path, numeric=("clicks",))
>>> table["city"].tolist(), table["clicks"].tolist()
(['paris', 'rome'], [3.0, nan])
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pa_csv

_UNIT_SEPARATOR = "\x1f"  # stands in for a multi-character delimiter (pyarrow takes one character)
_BLOCK_BYTES = 8 << 20


def read_table(
    path,
    names=None,
    delimiter: str = ",",
    numeric=(),
    integer=(),
    columns=None,
    strip: bool = False,
    quoting: bool = True,
    encoding: str = "utf8",
    missing_values=(),
    infer_numbers: bool = False,
) -> dict:
    """The columns of a delimited text file as numpy arrays (see the module docstring).

    Args:
        path: the file; a `.gz` name is decompressed.
        names: the column names when the file has no header row; else the first row names them.
        delimiter: the field separator; several characters (MovieLens' "::") are allowed.
        numeric: columns read as float64 (empty cell -> NaN).
        integer: columns read as int64 (every cell must be an integer).
        columns: the columns to return (default: all); the others are not converted.
        strip: trim spaces around every value (Census' ", " separators).
        quoting: honour double quotes; off for formats whose text holds bare quotes.
        encoding: the file's text encoding ("latin-1" for MovieLens).
        missing_values: cells (after `strip`) that mean "no value": NaN in a number column,
            "" in a text column.
        infer_numbers: also read as float64 every other column whose cells are all numbers
            or missing.
    """
    path = Path(path)
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if len(delimiter) > 1:
        data = data.replace(delimiter.encode(encoding), _UNIT_SEPARATOR.encode())
        delimiter = _UNIT_SEPARATOR
    header = names is None
    names = _column_names(data, path, names, delimiter, encoding, strip)
    wanted = list(names) if columns is None else list(columns)
    missing = [c for c in [*wanted, *numeric, *integer] if c not in names]
    if missing:
        raise ValueError(f"{path}: column(s) {sorted(set(missing))} not in the header {names}.")
    text = {"delimiter": delimiter, "quoting": quoting, "encoding": encoding}
    table = _read_text_columns(data, path, names, wanted, header, **text)
    del data
    out = {}
    for name in wanted:
        column = _cleaned(table.column(name).combine_chunks(), strip, missing_values)
        if (
            infer_numbers
            and name not in integer
            and _all_numbers(column.dictionary_encode().dictionary)
        ):
            out[name] = _number_column(column, name, path, int(header), np.float64)
        elif name in numeric or name in integer:
            dtype = np.int64 if name in integer else np.float64
            out[name] = _number_column(column, name, path, int(header), dtype)
        else:
            out[name] = _text_column(column)
    return out


def _column_names(data: bytes, path: Path, names, delimiter: str, encoding: str, strip: bool):
    """`names`, or (when None) the header row's; trimmed with `strip`."""
    if names is None:
        first = data.split(b"\n", 1)[0].decode(encoding).rstrip("\r")
        if not first.strip():
            raise ValueError(f"{path} is empty: expected a header row naming the columns.")
        names = first.split(delimiter)
    return [n.strip() for n in names] if strip else list(names)


def _read_text_columns(
    data: bytes, path: Path, names: list, wanted: list, header: bool, delimiter, quoting, encoding
) -> pa.Table:
    """Every wanted column as text, block by block, with a row counter for a slow read.

    A row with the wrong number of fields is an error naming its line.
    """
    from tqdm import tqdm

    bad_rows = []

    def on_invalid(row):
        bad_rows.append(row)
        return "skip"

    read_options = pa_csv.ReadOptions(
        column_names=names,
        skip_rows=int(header),
        encoding=encoding,
        block_size=_BLOCK_BYTES,
        use_threads=False,
    )
    convert_options = pa_csv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        include_columns=wanted,
        strings_can_be_null=False,
    )
    parse_options = pa_csv.ParseOptions(
        delimiter=delimiter, quote_char='"' if quoting else False, invalid_row_handler=on_invalid
    )
    reader = pa_csv.open_csv(
        pa.BufferReader(data),
        read_options=read_options,
        parse_options=parse_options,
        convert_options=convert_options,
    )
    batches = []
    with tqdm(
        desc=f"reading {path.name}", unit=" rows", unit_scale=True, delay=2, leave=False
    ) as progress:
        for batch in reader:
            batches.append(batch)
            progress.update(batch.num_rows)
    if bad_rows:
        row = bad_rows[0]
        raise ValueError(
            f"{path}: line {row.number:,} has {row.actual_columns} fields; "
            f"expected {row.expected_columns}."
        )
    return pa.Table.from_batches(batches, schema=reader.schema)


def _cleaned(column: pa.Array, strip: bool, missing_values) -> pa.Array:
    """`column` trimmed with `strip`, its `missing_values` cells made empty."""
    if strip:
        column = pc.utf8_trim_whitespace(column)
    if missing_values:
        missing = pc.is_in(column, value_set=pa.array(list(missing_values), pa.string()))
        column = pc.if_else(missing, "", column)
    return column


def _text_column(column: pa.Array) -> np.ndarray:
    """An object array of references to the column's few distinct strings."""
    encoded = column.dictionary_encode()
    values = encoded.dictionary.to_numpy(zero_copy_only=False).astype(object)
    return values[encoded.indices.to_numpy()]


def _number_column(column: pa.Array, name: str, path, header_lines: int, dtype) -> np.ndarray:
    """`column` (text) as `dtype`; an empty cell is NaN for floats, a bad cell a one-line error."""
    empty = pc.equal(pc.utf8_length(column), 0)
    target = pa.int64() if dtype is np.int64 else pa.float64()
    try:
        numbers = pc.cast(pc.if_else(empty, pa.scalar(None, pa.string()), column), target)
    except pa.ArrowInvalid:
        numbers = None
    if dtype is np.int64 and (numbers is None or numbers.null_count):
        numbers = None
    if numbers is None:
        bad = _first_bad_number(column.to_numpy(zero_copy_only=False), dtype)
        text = column[bad].as_py()
        raise ValueError(
            f"{path}: line {bad + 1 + header_lines:,}, column '{name}' is {text!r}, not "
            f"{'an integer' if dtype is np.int64 else 'a number'}."
        ) from None
    return numbers.to_numpy(zero_copy_only=False).astype(dtype)


def _all_numbers(column: pa.Array) -> bool:
    """True when every nonempty value parses as a number (and at least one does); given a
    column's distinct values, this is quick even when the cast fails."""
    present = pc.filter(column, pc.greater(pc.utf8_length(column), 0))
    if not len(present):
        return False
    try:
        pc.cast(present, pa.float64())
    except pa.ArrowInvalid:
        return False
    return True


def _first_bad_number(texts: np.ndarray, dtype) -> int:
    """The first row whose text does not parse (only run to name the culprit of an error)."""
    for i, text in enumerate(texts):
        try:
            int(text) if dtype is np.int64 else (float(text) if text else None)
        except ValueError:
            return i
    raise AssertionError("every value parsed")
