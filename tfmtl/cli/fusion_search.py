"""`tfmtl fusion-search`: search an export's fusion weights on a split, write a new version.

The new version holds the searched fusion as a variant.

    tfmtl fusion-search --model runs/ple --export models/ranker --objective ndcg \\
        --query-column user_id --value-column watch_time --constraint "ctr_auc>=-0.002" \\
        --trials 100 \\
        --variant-name searched --traffic searched=0.1

It predicts `--split` of the run's data (its config.yaml, or `--config`/`--set`), searches
with `tfmtl.fusion_search` (Optuna TPE, seeded; each trial scored by the serving fusion), and
writes `BASE/NAME/<latest + 1>/`: a copy of the given version (default: the latest) whose
tfmtl.json also has the best fusion as `fusion_variants[--variant-name]`, and the
`--traffic` shares in `fusion_traffic`. The copy is staged and renamed in whole
(`tfmtl.export.layout.version_dir`); the version it copies is never touched.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

from tfmtl.cli.errors import CommandError, load_keras_model, model_file
from tfmtl.cli.train import add_data_flags, load_model_split


def register(sub) -> None:
    f = sub.add_parser(
        "fusion-search",
        help="search fusion weights on a split; add them to a new export version",
        description=__doc__.split("\n\n")[0],
    )
    f.add_argument("--model", required=True, help="a run directory or its model.keras")
    f.add_argument(
        "--export",
        required=True,
        metavar="BASE/NAME[/VERSION]",
        help="the export of --model to start from (default version: the latest)",
    )
    f.add_argument(
        "--config",
        default=None,
        help="run config of the data (default: config.yaml beside the model)",
    )
    f.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    add_data_flags(f)
    _add_objective_flags(f)
    _add_search_flags(f)
    f.set_defaults(func=run_fusion_search)


def _add_objective_flags(f) -> None:
    """The split searched on and what "best" means there."""
    f.add_argument(
        "--split", default="validation", help="the split to search on: train, validation or test"
    )
    f.add_argument(
        "--objective",
        default="ndcg",
        choices=("ndcg", "auc"),
        help="ndcg: per-query NDCG@k of the fused ranking; auc: sum of c_t * (G)AUC_t",
    )
    f.add_argument(
        "--query-column", default=None, help="query ids (e.g. user_id): a feature or extra column"
    )
    f.add_argument(
        "--value-column",
        default=None,
        help="NDCG gains: a feature or extra column, or a task (its labels); "
        "default: first binary task",
    )
    f.add_argument("--k", type=int, default=10, help="NDCG cut-off")
    f.add_argument(
        "--task-weights",
        default=None,
        metavar="TASK=C,...",
        help="auc objective: c_t per task (default: 1 for every binary task)",
    )
    f.add_argument(
        "--constraint",
        action="append",
        default=[],
        metavar="METRIC>=DELTA",
        help="vs the default fusion, METRIC TASK_auc or objective, e.g. ctr_auc>=-0.002 "
        "(repeatable)",
    )


def _add_search_flags(f) -> None:
    """What is searched, the budget, and what is written."""
    f.add_argument(
        "--tasks",
        default=None,
        metavar="TASK,...",
        help="tasks whose weights are searched (default: all)",
    )
    f.add_argument("--trials", type=int, default=100, help="Optuna trials")
    f.add_argument("--seed", type=int, default=0, help="the TPE sampler's seed")
    f.add_argument("--search-kind", action="store_true", help="also choose product or weighted_sum")
    f.add_argument(
        "--search-length-transform",
        action="store_true",
        help="also choose the length transform (needs a fusion with a length_feature)",
    )
    f.add_argument("--variant-name", default="searched", help="name of the new fusion variant")
    f.add_argument(
        "--traffic",
        default=None,
        metavar="NAME=SHARE,...",
        help="fusion_traffic shares to set, e.g. searched=0.1,default=0.9",
    )
    f.add_argument("--table", default=None, metavar="FILE.csv", help="write the trial table")


def run_fusion_search(args) -> int:
    from tfmtl import fusion_search, training

    path = model_file(args.model)
    source, metadata, default = _source_export(args)
    traffic = _pairs(args.traffic, "--traffic") if args.traffic else {}
    data = load_model_split(args, path)
    model = load_keras_model(path)
    exported = _check_tasks(model, metadata, source, path)
    split = data[args.split]
    predictions = {
        k: v.astype("float64") for k, v in training.predict(model, data, args.split).items()
    }
    labels = {t: split.labels[t] for t in exported if t in split.labels}
    length = (
        _column(split, default["length_feature"], "fusion.length_feature")
        if default["length_feature"]
        else None
    )
    try:
        objective = _objective(args, split, labels)
        result = fusion_search.search_fusion(
            predictions,
            objective,
            default=default,
            length=length,
            constraints=args.constraint,
            n_trials=args.trials,
            seed=args.seed,
            search_kind=args.search_kind,
            search_length_transform=args.search_length_transform,
            tasks=[t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None,
        )
    except ValueError as e:
        raise CommandError(str(e)) from None
    _report(result, args, objective, len(split))
    if args.table:
        _write_table(Path(args.table), result.trials)
    final = _write_version(source, metadata, result.best, args.variant_name, traffic)
    print(
        f"[tfmtl] wrote {final}: fusion_variants['{args.variant_name}'] (copy of {source})",
        flush=True,
    )
    return 0


def _source_export(args) -> tuple:
    """`(version dir, its metadata, its fusion)` of `--export`, and `--variant-name` checked."""
    from tfmtl import contract, fusion_variants
    from tfmtl.export.layout import ExportError, resolve_version_dir

    try:
        source = resolve_version_dir(args.export)
        metadata = contract.read_metadata(source)
        default = contract.metadata_fusion(metadata)
    except (ExportError, contract.ContractError) as e:
        raise CommandError(f"--export {args.export}: {e}") from None
    if args.variant_name == fusion_variants.DEFAULT or not args.variant_name:
        raise CommandError(
            f"--variant-name must not be '{fusion_variants.DEFAULT}' (the model's own fusion). "
            f"Received: {args.variant_name!r}."
        )
    return source, metadata, default


def _check_tasks(model, metadata: dict, source, path) -> list:
    """The export's task names, once they are the model's."""
    from tfmtl import contract

    exported = contract.task_names(metadata)
    if [t.name for t in model.tasks] != exported:
        raise CommandError(
            f"--export {source} has tasks {exported}, --model {path} has "
            f"{[t.name for t in model.tasks]}; pass the export of this model."
        )
    return exported


def _objective(args, split, labels: dict):
    """The `FusionObjective` the flags ask for, on `split`."""
    from tfmtl import fusion_search

    query = _column(split, args.query_column, "--query-column") if args.query_column else None
    value, gain_task = None, None
    if args.value_column in labels:
        gain_task = args.value_column
    elif args.value_column:
        value = _column(split, args.value_column, "--value-column")
    return fusion_search.FusionObjective(
        labels,
        args.objective,
        query=query,
        value=value,
        gain_task=gain_task,
        task_weights=_pairs(args.task_weights, "--task-weights") if args.task_weights else None,
        k=args.k,
    )


def _pairs(text: str, flag: str) -> dict:
    """`"a=1,b=0.5"` -> `{"a": 1.0, "b": 0.5}`."""
    pairs = {}
    for item in text.split(","):
        key, eq, number = item.partition("=")
        try:
            pairs[key.strip()] = float(number)
        except ValueError:
            eq = ""
        if not eq or not key.strip():
            raise CommandError(
                f"{flag} must read NAME=NUMBER,... (e.g. ctr=1,cvr=0.5). Received: {item!r}."
            )
    return pairs


def _column(split, name: str, flag: str):
    """A raw column of the split: an extra (ids, values that are not inputs) or a feature."""
    import numpy as np

    for columns in (split.extras, split.features):
        if name in columns:
            return np.asarray(columns[name])
    known = sorted({*split.extras, *split.features})
    raise CommandError(
        f"{flag} {name}: the split has no such column; it has: {', '.join(known)}"
        f"{' and tasks ' + ', '.join(split.labels) if flag == '--value-column' else ''}."
    )


def _report(result, args, objective, rows: int) -> None:
    what = f"ndcg@{args.k}" if args.objective == "ndcg" else "auc"
    what += f" per {args.query_column}" if args.query_column else ""
    gains = (
        f", gains {args.value_column or objective.gain_task}" if args.objective == "ndcg" else ""
    )
    print(
        f"[tfmtl] {len(result.trials)} trials on {args.split} ({rows:,} rows), objective "
        f"{what}{gains}"
    )
    print(
        f"[tfmtl] default  {what} {result.default_objective:.6f}  {_shown(result.default_metrics)}"
    )
    print(
        f"[tfmtl] best     {what} {result.best_objective:.6f}  {_shown(result.best_metrics)}  "
        f"(+{result.best_objective - result.default_objective:.6f})"
    )
    if result.fixed_task:
        print(
            f"[tfmtl] weight of '{result.fixed_task}' fixed to 1: the ranking is unchanged by "
            "scaling all weights"
        )
    if result.best is result.default:
        print(
            "[tfmtl] no trial met the constraints: the variant is the default fusion",
            file=sys.stderr,
        )
    print(json.dumps({"default": result.default, "best": result.best}))


def _shown(metrics: dict) -> str:
    return " ".join(f"{k} {v:.6f}" for k, v in metrics.items())


def _write_table(path: Path, trials: list) -> None:
    names = list(dict.fromkeys(k for t in trials for k in t))
    try:
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=names)
            writer.writeheader()
            writer.writerows(trials)
    except OSError as e:
        raise CommandError(f"--table {path}: {e.strerror or e}.") from None


def _write_version(source: Path, metadata: dict, fusion: dict, name: str, traffic: dict) -> Path:
    """`source` copied to BASE/NAME/<next>, its tfmtl.json with the variant.

    The copy is staged, then renamed.
    """
    from tfmtl import contract, fusion_variants
    from tfmtl.export.layout import ExportError, version_dir
    from tfmtl.export.metadata import write_metadata

    model_dir = source.parent
    document = json.loads(json.dumps(metadata))
    document["fusion_variants"] = {**(document.get("fusion_variants") or {}), name: fusion}
    shares = {**(document.get("fusion_traffic") or {}), **traffic}
    if shares:
        document["fusion_traffic"] = shares
    try:
        fusion_variants.variants(document)
        fusion_variants.traffic(document)
        with version_dir(model_dir.parent, model_dir.name) as (tmp, final):
            shutil.copytree(source, tmp, dirs_exist_ok=True)
            document["model"]["version"] = int(final.name)
            write_metadata(
                tmp, contract.parse_metadata(document, source=f"{final}/assets.extra/tfmtl.json")
            )
    except contract.ContractError as e:
        raise CommandError(f"--traffic: {e}" if "traffic" in str(e.field) else str(e)) from None
    except (ExportError, OSError) as e:
        raise CommandError(str(e)) from None
    return final
