"""The run config's `data` section: a built-in dataset, or the files and their reader options."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tfmtl.config_checks import (
    ConfigError,
    as_list,
    check_choice,
    check_keys,
    column_names,
    is_real,
)

FORMATS = ("csv", "tsv", "parquet", "tfrecord")
DATA_DEFAULTS = {
    "format": None,
    "header": True,
    "column_names": None,
    "delimiter": None,
    "skip_initial_space": False,
    "missing_values": ["", "?", "NA", "NULL"],
    "encoding": "utf8",
    "seed": 0,
}


def check_data(data, base_dir: Path) -> dict:
    """The `data` section checked, with its paths resolved against `base_dir` and defaults in."""
    if not isinstance(data, dict):
        raise ConfigError(
            "data: give a built-in `dataset` or the files (`train`, `validation`, `test`, "
            "or `path` and `split`)."
        )
    if "dataset" in data:
        return _builtin(data, base_dir)
    check_keys(data, ("path", "train", "validation", "test", "split", *DATA_DEFAULTS), "data")
    out = {
        **DATA_DEFAULTS,
        **{k: v for k, v in data.items() if v is not None or k not in DATA_DEFAULTS},
    }
    if out.get("split") is not None:
        _split_one_file(out)
    elif out.get("path"):
        raise ConfigError(
            "data.path: one file needs `split: [train, validation, test]`; or name `train`, "
            "`validation`, `test`."
        )
    if not out.get("train"):
        raise ConfigError("data.train: the training file is missing (or give `path` and `split`).")
    files = _files(out, base_dir)
    _reader_options(out, files["train"]["path"])
    return out


def _builtin(data: dict, base_dir: Path) -> dict:
    """A built-in `dataset` section: a known name, and its `data_dir` resolved."""
    check_keys(data, ("dataset", "data_dir", "protocol", "rows"), "data")
    from tfmtl.data.registry import available_datasets

    if data["dataset"] not in available_datasets():
        raise ConfigError(
            f"data.dataset: unknown dataset {data['dataset']!r}; choose one of: "
            f"{', '.join(available_datasets())}."
        )
    if data.get("data_dir") is not None:
        data["data_dir"] = str(_path(data["data_dir"], base_dir, "data.data_dir"))
    return data


def _split_one_file(out: dict) -> None:
    """`path` (or `train`) and `split: [train, validation, test]` become three parts of it."""
    single = [k for k in ("path", "train") if out.get(k)]
    if len(single) != 1 or out.get("validation") or out.get("test"):
        raise ConfigError(
            "data.split: give one file (`path`) to split, and no `validation`/`test`."
        )
    fractions = out.pop("split")
    if (
        not isinstance(fractions, list)
        or len(fractions) != 3
        or not all(is_real(f) and f >= 0 for f in fractions)
        or not fractions[0] > 0
        or abs(sum(fractions) - 1) > 1e-6
    ):
        raise ConfigError(
            "data.split: three fractions [train, validation, test] summing to 1; "
            f"got {fractions!r}."
        )
    path = out.pop("path", None) or out["train"]
    bounds = [0.0, round(fractions[0], 9), round(fractions[0] + fractions[1], 9), 1.0]
    for i, split in enumerate(("train", "validation", "test")):
        out[split] = {"path": path, "part": [bounds[i], bounds[i + 1]], "seed": out["seed"]}


def _files(out: dict, base_dir: Path) -> dict:
    """Each split's file checked, returned by split; an unset split or empty part is left out."""
    files = {}
    for split in ("train", "validation", "test"):
        if out.get(split) in (None, ""):
            out.pop(split, None)
            continue
        files[split] = _file(out[split], base_dir, f"data.{split}")
        if files[split]["part"] == [files[split]["part"][0]] * 2:
            files.pop(split)
    out.update(files)
    for split in ("validation", "test"):
        if split not in files:
            out.pop(split, None)
    return files


def _reader_options(out: dict, train_path: str) -> None:
    """The format (from the training file's suffix when unset) and the text reader's options."""
    suffix = Path(train_path).name.lower().removesuffix(".gz")
    if out["format"] is None:
        out["format"] = next((f for f in FORMATS if suffix.endswith("." + f)), "csv")
        if suffix.endswith((".tfrec", ".tfrecords")):
            out["format"] = "tfrecord"
    check_choice(out["format"], FORMATS, "data.format")
    if out["delimiter"] is None:
        out["delimiter"] = "\t" if out["format"] == "tsv" else ","
    if not isinstance(out["delimiter"], str) or not out["delimiter"]:
        raise ConfigError(f"data.delimiter: a non-empty string; got {out['delimiter']!r}.")
    for key in ("header", "skip_initial_space"):
        if not isinstance(out[key], bool):
            raise ConfigError(f"data.{key}: true or false; got {out[key]!r}.")
    if out["column_names"] is not None:
        out["column_names"] = column_names(out["column_names"], "data.column_names")
        out["header"] = False
    out["missing_values"] = [str(v) for v in as_list(out["missing_values"], "data.missing_values")]


def _file(value, base_dir: Path, key: str) -> dict:
    if isinstance(value, str):
        value = {"path": value}
    if not isinstance(value, dict) or "path" not in value:
        raise ConfigError(
            f"{key}: a file path, or {{path: FILE, part: [start, end], seed: N}}; got {value!r}."
        )
    check_keys(value, ("path", "part", "seed"), key)
    part = value.get("part", [0.0, 1.0])
    if not (
        isinstance(part, list)
        and len(part) == 2
        and all(is_real(p) for p in part)
        and 0 <= part[0] <= part[1] <= 1
    ):
        raise ConfigError(
            f"{key}.part: [start, end] fractions of the file's shuffled rows, 0 <= start <= end "
            f"<= 1; got {part!r}."
        )
    return {
        "path": str(_path(value["path"], base_dir, f"{key}.path")),
        "part": [float(p) for p in part],
        "seed": int(value.get("seed", 0)),
    }


def _path(text, base_dir: Path, key: str) -> Path:
    if not isinstance(text, str):
        raise ConfigError(f"{key}: a path; got {text!r}.")
    expanded = os.path.expandvars(os.path.expanduser(text))
    unset = re.findall(r"\$\{?(\w+)", expanded)
    if unset:
        raise ConfigError(f"{key}: {text!r} uses ${unset[0]}, which is not set in the environment.")
    path = Path(expanded)
    return path if path.is_absolute() else (base_dir / path)
