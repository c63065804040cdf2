r"""The zoo's quality table: registry model configs x datasets x seeds, one schedule for all.

Each `--models` item is a run config's `model:` section (a family name, or JSON/YAML:
`'{"family": "ple", "num_levels": 1}'`), built with `tfmtl.models.registry.build`; each
`--datasets` item is a run config's `data:` section (a built-in name such as `census`, a
mapping such as `'{dataset: synthetic, rows: 5000}'`, or a run config file whose `data:` is
used), loaded as `tfmtl train` loads it (`tfmtl.config` -> `tfmtl.data.run_data`). Every
(dataset, config, seed) trains on the same schedule (AdamW, cosine decay to 5%, as
examples/configs/census.yaml) and writes one Markdown table per dataset: test AUC per task
(MSE for regression tasks) mean ± std over seeds, parameter count and training samples/s
(median over the epochs after the first, which traces). Finished runs are appended to a JSONL
file keyed by (dataset, resolved model config, seed, schedule): a rerun skips them.
The engine is `tfmtl.reproduce.engine`, shared with `tfmtl reproduce`; this is its command line.

    TFMTL_DATA_DIR=../shared/data python benchmarks/zoo_table.py --models mmoe ple \
        --datasets census --seeds 2 --out benchmarks/results/zoo
    python benchmarks/zoo_table.py --quick --models mmoe ple --datasets census --out /tmp/zoo

Datasets by name: census (income, never_married; the published protocol when
census-income.data.gz is present), census3 (+ education), movielens1m, ... (`tfmtl datasets`).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from tfmtl.reproduce.engine import (  # noqa: F401 - the engine's names, as this script's
    QUICK,
    data_section,
    load,
    model_config,
    read_runs,
    render_report,
    run_key,
    run_one,
    table,
)
from tfmtl.reproduce.engine import dataset_runs as _dataset_runs


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--models", nargs="+", default=["mmoe", "ple"], help="model: sections")
    p.add_argument("--datasets", nargs="+", default=["census"], help="data: sections")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1 of every run")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--learning-rate", type=float, default=1e-3, help="AdamW peak rate")
    p.add_argument("--weight-decay", type=float, default=1e-2)
    p.add_argument("--rows", type=int, default=None, help="cap the training rows (quick runs)")
    p.add_argument("--out", default="benchmarks/results/zoo", help="folder: Markdown + JSONL")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK['rows']} training rows, {QUICK['eval_rows']} test rows, "
        f"{QUICK['epochs']} epoch, no validation",
    )
    args = p.parse_args(argv)
    if args.seeds < 1 or args.epochs < 1 or args.batch_size < 1:
        p.error("--seeds, --epochs and --batch-size must be >= 1")
    if args.rows is not None and args.rows < 1:
        p.error(f"--rows must be >= 1; got {args.rows}")
    return args


def schedule(args) -> dict:
    """What every run trains with; part of each result's key, so a changed flag reruns."""
    quick = QUICK if args.quick else {}
    return {
        "epochs": quick.get("epochs", args.epochs),
        "batch_size": args.batch_size,
        "optimizer": "adamw",
        "learning_rate": args.learning_rate,
        "weight_decay": args.weight_decay,
        "schedule": "cosine",
        "rows": quick.get("rows", args.rows),
        "eval_rows": quick.get("eval_rows"),
        "validate": quick.get("validate", True),
    }


def dataset_runs(section: dict, models: list, sched: dict, seeds: int, runs_file: Path) -> dict:
    """label -> the runs of every seed of every model on one dataset; missing runs train."""
    # looked up at call time, so a test can stand in for `run_one` and `load`
    return _dataset_runs(
        section,
        models,
        sched,
        seeds,
        runs_file,
        train=lambda *a: run_one(*a),
        load_data=lambda *a: load(*a),
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    command = "python benchmarks/zoo_table.py " + shlex.join(
        argv if argv is not None else sys.argv[1:]
    )
    if os.environ.get("TFMTL_DATA_DIR"):  # where the data came from is part of how it ran
        command = f"TFMTL_DATA_DIR={shlex.quote(os.environ['TFMTL_DATA_DIR'])} {command}"
    models = [model_config(text) for text in args.models]
    sched = schedule(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs_file = out / "runs.jsonl"
    for text in args.datasets:
        section = data_section(text)
        runs = dataset_runs(section, models, sched, args.seeds, runs_file)
        report = render_report(section, runs, sched, command)
        name = str(section.get("dataset", "data")).replace("/", "_")
        (out / f"{name}.md").write_text(report)
        print(report, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
