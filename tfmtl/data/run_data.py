"""`MultiTaskData` from a resolved run config (`tfmtl.config`): a built-in dataset or files.

From files: each file is read once; a split is a whole file or a `part` of its rows shuffled
by `seed`; labels come from the tasks' `label` columns (`positive` values mean 1); features
are inferred from the train split (`tfmtl.data.infer`) and the config's `features` list
overrides any of them; label columns and `drop` are never inputs.

Example:

>>> config = tfmtl.config.load_config("examples/configs/census.yaml")
>>> data, notes = load_run_data(config)
>>> sorted(data.splits), [t.name for t in data.tasks]
(['test', 'train', 'validation'], ['income', 'never_married'])
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfmtl.config import is_number
from tfmtl.data.dataset import MultiTaskData, build_splits
from tfmtl.data.files import read_columns
from tfmtl.data.infer import infer_feature, infer_features
from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec
from tfmtl.tasks import Task, _parse_clauses

SPLITS = ("train", "validation", "test")
# run-config feature keys -> Feature fields
_FEATURE_FIELDS = {
    "buckets": "num_buckets",
    "hash_bins": "num_hash_bins",
    "vocabulary": "vocabulary",
    "embedding_dim": "embedding_dim",
    "encoding": "encoding",
    "transform": "transform",
    "missing": "missing",
    "min_count": "min_count",
    "dtype": "dtype",
}


def load_run_data(config: dict) -> tuple[MultiTaskData, dict]:
    """The data `config` describes, and a note per column saying how it became an input."""
    data = config["data"]
    if "dataset" in data:
        return _builtin(data, config["tasks"]), {}
    tables, parts = {}, {}
    for split in SPLITS:
        if split not in data:
            continue
        path = data[split]["path"]
        if path not in tables:
            tables[path] = read_columns(
                path,
                data["format"],
                data["header"],
                data["column_names"],
                data["delimiter"],
                data["skip_initial_space"],
                data["missing_values"],
                data["encoding"],
            )
        parts[split] = (
            tables[path],
            _rows(len(tables[path]), data[split]["part"], data[split]["seed"]),
        )
    tasks, label_columns = _tasks(config["tasks"], parts)
    train_table, train_rows = parts["train"]
    excluded = {t["label"] for t in config["tasks"]} | set(config["drop"])
    _check_columns(config["drop"], train_table, "drop")
    spec, notes = _spec(config["features"], train_table, train_rows, excluded)
    space_columns = {
        c for t in tasks if t.sample_space for c, _, _ in _parse_clauses(t.sample_space, t.name)
    }
    _check_columns(sorted(space_columns), train_table, "a task's space")
    wanted = [*spec.names, *sorted(space_columns - set(spec.names))]
    columns, indices, offset = {n: [] for n in wanted}, {}, 0
    label_parts = {name: [] for name in label_columns}
    for path, table in tables.items():
        for name in wanted:
            if name not in table.columns:
                raise ValueError(f"{path} has no column '{name}', which {train_table.path} has.")
            columns[name].append(table.columns[name])
        for name, per_table in label_columns.items():
            label_parts[name].append(per_table[path])
        for split, (t, rows) in parts.items():
            if t is table:
                indices[split] = rows + offset
        offset += len(table)
    columns = {
        n: np.concatenate(v) if len(v) > 1 else v[0] for n, v in {**columns, **label_parts}.items()
    }
    source = " + ".join(str(p) for p in tables)
    lines = None
    if all(t.first_line is not None for t in tables.values()):
        lines = np.concatenate([t.first_line + np.arange(len(t)) for t in tables.values()])
    result = build_splits(columns, spec, tasks, indices, source, lines=lines)
    sizes = ", ".join(f"{k} {len(result[k]):,}" for k in SPLITS if k in result.splits)
    result.description = f"{source}: {sizes} rows; {len(spec)} features"
    return result, notes


def _builtin(data: dict, overrides: list) -> MultiTaskData:
    from tfmtl.data.registry import dataset_parameters, load_dataset

    kwargs = {
        "data_dir_" if k == "data_dir" else k: v
        for k, v in data.items()
        if k != "dataset" and v is not None
    }
    accepted = dataset_parameters(data["dataset"])
    for key in kwargs:
        if key not in accepted:
            raise ValueError(
                f"data.{key.rstrip('_')}: dataset '{data['dataset']}' does not take it."
            )
    loaded = load_dataset(data["dataset"], **kwargs)
    by_name = {t.name: t for t in loaded.tasks}
    for i, o in enumerate(overrides):
        if o["name"] not in by_name:
            raise ValueError(
                f"tasks[{i}].name: dataset '{data['dataset']}' has no task '{o['name']}'; "
                f"its tasks: {', '.join(by_name)}."
            )
        fields = {
            "weight": "loss_weight",
            "decay": "decay",
            "facets": "facets",
            "tower_units": "tower_units",
        }
        if "space" in o:
            raise ValueError(f"tasks[{i}].space: a built-in dataset's sample spaces are fixed.")
        by_name[o["name"]] = dataclasses.replace(
            by_name[o["name"]], **{fields[k]: v for k, v in o.items() if k in fields}
        )
    # listed tasks are the ones to train (AITM's click -> purchase of the three-task funnel)
    loaded.tasks = [by_name[o["name"]] for o in overrides] if overrides else list(by_name.values())
    return loaded


def _rows(n: int, part, seed: int) -> np.ndarray:
    if part == [0.0, 1.0]:
        return np.arange(n)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[int(round(part[0] * n)) : int(round(part[1] * n))])


def _tasks(configs: list, parts: dict):
    """Tasks, and their label columns (name -> {path: float32 labels}) with each value checked."""
    tasks, labels = [], {}
    tables = {str(t.path): t for t, _ in parts.values()}
    for i, c in enumerate(configs):
        column = f"__label_{c['name']}"
        labels[column] = {}
        for path, table in tables.items():
            if c["label"] not in table.columns:
                raise ValueError(
                    f"tasks[{i}].label: {path} has no column '{c['label']}'. "
                    f"Columns: {', '.join(table.columns)}"
                )
            labels[column][path] = _label(table, c, i)
        tasks.append(
            Task(
                c["name"],
                kind=c["kind"],
                label=column,
                loss_weight=float(c["weight"]),
                decay=float(c["decay"]),
                sample_space=c["space"],
                tower_units=tuple(c["tower_units"]),
                facets=c["facets"],
            )
        )
    return tasks, labels


def _label(table, c: dict, i: int) -> np.ndarray:
    raw = table.columns[c["label"]]
    numeric = raw.dtype.kind == "f"
    if c["positive"] is not None:
        if numeric and all(is_number(v) for v in c["positive"]):
            values, positive = raw, [float(v) for v in c["positive"]]
        else:
            values, positive = (_as_text(raw) if numeric else raw), c["positive"]
        missing = ~np.isfinite(values) if values.dtype.kind == "f" else values == ""
        return np.where(missing, np.nan, np.isin(values, positive)).astype(np.float32)
    if not numeric:
        row = int(np.flatnonzero(raw != "")[0]) if np.any(raw != "") else 0
        raise ValueError(
            f"tasks[{i}].positive: label column '{c['label']}' holds text ({raw[row]!r} on "
            f"{table.line(row)} of {table.path}); list the values that mean 1 in `positive`."
        )
    if c["kind"] == "binary":
        bad = np.flatnonzero(np.isfinite(raw) & (raw != 0) & (raw != 1))
        if bad.size:
            raise ValueError(
                f"{table.path}: {table.line(int(bad[0]))}: label '{c['label']}' of binary task "
                f"'{c['name']}' is {raw[bad[0]]:g}; a binary label is 0 or 1 (or set "
                f"tasks[{i}].positive)."
            )
    return raw.astype(np.float32)


def _spec(overrides, table, rows, excluded: set):
    names = [n for n in table.columns if n not in excluded]
    train = {n: table.columns[n][rows] for n in names}
    features, notes = infer_features(train)
    by_name = {f.name: f for f in features}
    for i, o in enumerate([] if overrides == "auto" else overrides):
        name = o["name"]
        if name in excluded:
            raise ValueError(
                f"features[{i}].name: '{name}' is a label or dropped column, never an input."
            )
        _check_columns([name], table, f"features[{i}]")
        base = by_name.get(name) or infer_feature(name, train[name])[0]
        kind = o.get("kind") or (base.kind if base is not None else "categorical")
        cls = DenseFeature if kind == "dense" else CategoricalFeature
        fields = {f.name for f in dataclasses.fields(cls)}
        kept = {
            k: getattr(base, k)
            for k in fields
            if base is not None and base.kind == kind and k != "name"
        }
        given = {_FEATURE_FIELDS[k]: v for k, v in o.items() if k in _FEATURE_FIELDS}
        stray = sorted(k for k in given if k not in fields)
        if stray:
            raise ValueError(
                f"features[{i}]: a {kind} feature has no "
                f"{next(k for k, v in _FEATURE_FIELDS.items() if v == stray[0])}."
            )
        if kind == "dense" and train[name].dtype.kind != "f":
            raise ValueError(f"features[{i}]: '{name}' holds text, so it cannot be dense.")
        if kind == "categorical" and train[name].dtype.kind == "f" and "dtype" not in given:
            given["dtype"] = "int64" if np.all(np.isfinite(train[name])) else "string"
        by_name[name] = cls(name, **{**kept, **given})
        notes[name] = f"{kind}: as configured"
    order = [n for n in names if n in by_name]
    return FeatureSpec([by_name[n] for n in order]), notes


def config_features(spec: FeatureSpec) -> list:
    """`spec` as run-config `features` entries: what was chosen, not what was learnt from data."""
    keys = {field: key for key, field in _FEATURE_FIELDS.items()}
    out = []
    for f in spec:
        entry = {"name": f.name, "kind": f.kind}
        for field in dataclasses.fields(f):
            value = getattr(f, field.name)
            if (
                field.name in keys
                and field.name != "vocabulary"
                and value is not None
                and value != field.default
            ):
                entry[keys[field.name]] = value
        out.append(entry)
    return out


def _check_columns(names, table, where: str) -> None:
    for name in names:
        if name not in table.columns:
            raise ValueError(
                f"{where}: {table.path} has no column '{name}'. Columns: {', '.join(table.columns)}"
            )


def _as_text(values: np.ndarray) -> np.ndarray:
    return np.array([("" if not np.isfinite(v) else f"{v:g}") for v in values], dtype=object)
