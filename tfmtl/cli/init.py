"""`tfmtl init`: a run config for a data file, its features inferred and shown for review.

    tfmtl init --data shop.csv --task click:label=clicked \\
        --task buy:label=bought:space="clicked == 1" > run.yaml
    tfmtl init --data census.data.gz --test census.test.gz --column-names @names.txt \\
        --task income:label=income:positive=50000+. --output run.yaml

A task is `NAME[:key=value...]` with keys label (default NAME), positive (values meaning 1,
comma-separated), kind (binary or regression), space (PLE eq 9 rule), weight, decay. The
file's delimiter, spaces after delimiters and header row are detected unless given.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np

from tfmtl.cli.errors import CommandError
from tfmtl.config import is_number

_DELIMITERS = (",", "\t", ";", "|")
_TASK_KEYS = ("label", "positive", "kind", "space", "weight", "decay")


def register(sub) -> None:
    p = sub.add_parser(
        "init",
        help="write a run config for a data file (features inferred, for review)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "--data", required=True, help="the training file (csv, tsv, parquet, tfrecord; .gz allowed)"
    )
    p.add_argument(
        "--validation",
        default=None,
        help="a validation file, or a fraction (e.g. 0.5) of the --test file's shuffled rows "
        "(default: carved from --data by --split)",
    )
    p.add_argument(
        "--test", default=None, help="a test file (default: carved from --data by --split)"
    )
    p.add_argument(
        "--split",
        default="0.8,0.1,0.1",
        help="train,validation,test fractions of --data when it is the only file",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="shuffles the rows a --split or a --validation fraction cuts",
    )
    p.add_argument(
        "--task",
        action="append",
        required=True,
        metavar="NAME[:key=value...]",
        help="a task (repeatable), e.g. income:label=income:positive=>50K,>50K.",
    )
    p.add_argument(
        "--column-names",
        default=None,
        help="names of a file without a header: a,b,c or @file (one per line)",
    )
    p.add_argument("--delimiter", default=None, help="field separator (default: detected)")
    p.add_argument("--drop", default="", help="columns that are not inputs, comma-separated")
    p.add_argument("--model", default="ple", help="model family (see `tfmtl models`)")
    p.add_argument(
        "--output",
        default=None,
        help="write the config here (default: stdout); data paths are made relative to it",
    )
    p.set_defaults(func=run_init)


def run_init(args) -> int:
    from tfmtl.config import ConfigError, parse_config

    path = Path(args.data)
    if not path.is_file():
        raise CommandError(f"--data {path}: no such file.")
    from tfmtl.models.registry import resolve

    try:
        resolve(args.model)
    except ValueError as e:
        raise CommandError(str(e)) from None
    reader = _sniff(path, args.delimiter, _column_names(args.column_names))
    table, tasks, drop = _read_table(args, path, reader)
    out = Path(args.output) if args.output else None
    config, features, notes = _config(args, out, reader, table, tasks, drop)
    text = _yaml(config, path)
    try:
        parse_config(text, base_dir=out.parent if out else ".")
    except ConfigError as e:
        raise CommandError(str(e)) from None
    _review(notes, table, tasks)
    if out:
        out.write_text(text)
        print(
            f"[tfmtl] wrote {out}: {len(features)} features, {len(tasks)} tasks; review it, then "
            f"`tfmtl train --config {out} --output runs/{args.model}`",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(text)
    return 0


def _read_table(args, path: Path, reader: dict) -> tuple:
    """`(table, tasks, drop)`: the file read, each `--task` completed from it, `--drop` checked."""
    from tfmtl.data.files import read_columns

    tasks = [_task(text) for text in args.task]
    try:
        table = read_columns(path, **reader)
    except (OSError, ValueError) as e:
        raise CommandError(str(e)) from None
    for spec in tasks:
        _complete_task(spec, table)
    drop = [c.strip() for c in args.drop.split(",") if c.strip()]
    for column in drop:
        if column not in table.columns:
            raise CommandError(
                f"--drop {column}: {path} has no such column. Columns: {', '.join(table.columns)}"
            )
    return table, tasks, drop


def _config(args, out, reader: dict, table, tasks: list, drop: list) -> tuple:
    """`(run config, features, inference notes)` for the table: every other column a feature."""
    from tfmtl.data.infer import infer_features
    from tfmtl.data.run_data import config_features
    from tfmtl.features import FeatureSpec

    excluded = {t["label"] for t in tasks} | set(drop)
    features, notes = infer_features(table.columns, [n for n in table.columns if n not in excluded])
    data = {**_files(args, out), **reader}
    data.pop("format")
    config = {
        "data": {k: v for k, v in data.items() if v is not None},
        "features": config_features(FeatureSpec(features)),
        "drop": drop,
        "tasks": tasks,
        "model": {"family": args.model},
        "training": {
            "epochs": 10,
            "batch_size": 1024,
            "learning_rate": 0.001,
            "early_stopping": {"monitor": "val_loss", "patience": 2},
        },
    }
    return config, features, notes


def _column_names(text):
    if not text:
        return None
    if text.startswith("@"):
        names_file = Path(text[1:])
        if not names_file.is_file():
            raise CommandError(f"--column-names file {names_file} does not exist.")
        return [line.strip() for line in names_file.read_text().splitlines() if line.strip()]
    return [n.strip() for n in text.split(",")]


def _sniff(path: Path, delimiter, names) -> dict:
    """Reader options for `path`: delimiter, spaces after it, header row (text formats)."""
    from tfmtl.data.files import MISSING_VALUES, _format_of

    format = _format_of(path)
    reader = {
        "format": format,
        "header": names is None,
        "column_names": names,
        "delimiter": delimiter,
        "skip_initial_space": False,
        "missing_values": list(MISSING_VALUES),
    }
    if format not in ("csv", "tsv"):
        return reader
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf8", errors="replace") as f:
        lines = [line.rstrip("\r\n") for _, line in zip(range(50), f) if line.strip()]
    if not lines:
        raise CommandError(f"--data {path} is empty.")
    if delimiter is None:
        counts = {d: [line.count(d) for line in lines] for d in _DELIMITERS}
        steady = [d for d, c in counts.items() if c[0] > 0 and len(set(c)) == 1]
        delimiter = max(steady or _DELIMITERS, key=lambda d: counts[d][0])
    fields = [field for line in lines[1:] or lines for field in line.split(delimiter)[1:]]
    reader["delimiter"] = delimiter
    reader["skip_initial_space"] = (
        bool(fields) and sum(f.startswith(" ") for f in fields) > len(fields) / 2
    )
    if names is None:
        first = [f.strip() for f in lines[0].split(delimiter)]
        if any(is_number(f) for f in first) or len(set(first)) < len(first):
            reader["header"] = False
            reader["column_names"] = [f"column_{i + 1}" for i in range(len(first))]
    elif len(names) != len(lines[0].split(delimiter)):
        raise CommandError(
            f"--column-names gives {len(names)} names but {path} has "
            f"{len(lines[0].split(delimiter))} fields per line."
        )
    return reader


def _task(text: str) -> dict:
    name, *pairs = text.split(":")
    task = {"name": name.strip()}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or key not in _TASK_KEYS:
            raise CommandError(
                f"--task {text}: {pair!r} is not key=value with key in {', '.join(_TASK_KEYS)}."
            )
        if key == "positive":
            task[key] = [v for v in value.split(",")]
        elif key in ("weight", "decay"):
            if not is_number(value):
                raise CommandError(f"--task {text}: {key} must be a number; got {value!r}.")
            task[key] = float(value)
        else:
            task[key] = value.strip()
    task.setdefault("label", task["name"])
    return task


def _complete_task(task: dict, table) -> None:
    """Kind and positive values from the label column, when the --task left them out."""
    column = task["label"]
    if column not in table.columns:
        raise CommandError(
            f"--task {task['name']}: {table.path} has no column '{column}' (label=). "
            f"Columns: {', '.join(table.columns)}"
        )
    values = table.columns[column]
    if "positive" in task:
        task.setdefault("kind", "binary")
        return
    if values.dtype.kind == "f":
        present = np.unique(values[np.isfinite(values)])
        task.setdefault("kind", "binary" if set(present.tolist()) <= {0.0, 1.0} else "regression")
        return
    distinct, counts = np.unique(values[values != ""].astype(str), return_counts=True)
    if len(distinct) != 2:
        raise CommandError(
            f"--task {task['name']}: label column '{column}' holds {len(distinct)} text values; "
            f"say which mean 1 with positive=VALUE[,VALUE] (e.g. positive={distinct[0]})."
        )
    task["kind"] = "binary"
    task["positive"] = [str(distinct[int(np.argmin(counts))])]


def _files(args, out) -> dict:
    def rel(p):
        p = Path(p).resolve()
        if out is None:
            return str(p)
        try:
            return str(p.relative_to(out.resolve().parent))
        except ValueError:
            return str(p)

    if args.validation and is_number(args.validation):
        if not args.test:
            raise CommandError(
                f"--validation {args.validation}: a fraction of the --test file needs --test."
            )
        f = float(args.validation)
        if not 0 < f < 1:
            raise CommandError(f"--validation {args.validation}: a fraction between 0 and 1.")
        test = rel(args.test)
        return {
            "train": rel(args.data),
            "validation": {"path": test, "part": [0.0, f], "seed": args.seed},
            "test": {"path": test, "part": [f, 1.0], "seed": args.seed},
        }
    if args.validation or args.test:
        return {
            "train": rel(args.data),
            "validation": rel(args.validation) if args.validation else None,
            "test": rel(args.test) if args.test else None,
        }
    try:
        split = [float(f) for f in args.split.split(",")]
    except ValueError:
        raise CommandError(f"--split {args.split}: three fractions like 0.8,0.1,0.1.") from None
    return {"path": rel(args.data), "split": split, "seed": args.seed}


def _yaml(config: dict, source: Path) -> str:
    import yaml

    head = (
        f"# tfmtl run config, written by `tfmtl init` from {source.name}.\n"
        "# Review the features (inferred from the data) and the tasks; any key can be changed\n"
        "# here or with `tfmtl train --set key=value`.\n"
    )
    return head + yaml.safe_dump(
        config, sort_keys=False, default_flow_style=None, width=120, allow_unicode=True
    )


def _review(notes: dict, table, tasks) -> None:
    width = max(map(len, notes), default=0)
    print(f"[tfmtl] {len(table):,} rows of {table.path}; columns as inputs:", file=sys.stderr)
    for name, note in notes.items():
        print(f"  {name:<{width}}  {note}", file=sys.stderr)
    for t in tasks:
        positive = f", positive = {t['positive']}" if t.get("positive") else ""
        print(
            f"  task {t['name']}: {t['kind']} on column '{t['label']}'{positive}", file=sys.stderr
        )
