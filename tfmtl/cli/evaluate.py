"""`tfmtl evaluate`: a trained model's metrics on one split of its run's data (or another's).

tfmtl evaluate --model runs/ple --split test > test-metrics.json
tfmtl evaluate --model runs/ple/model.keras --dataset census --split validation --plots plots/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tfmtl.cli.errors import CommandError, load_keras_model, model_file
from tfmtl.cli.train import add_data_flags, load_model_split


def register(sub) -> None:
    e = sub.add_parser(
        "evaluate",
        help="evaluate a trained model on a split of its data",
        description=__doc__.split("\n\n")[0],
    )
    e.add_argument("--model", required=True, help="a run directory or its model.keras")
    e.add_argument(
        "--config",
        default=None,
        help="run config of the data (default: config.yaml beside the model)",
    )
    e.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    add_data_flags(e)
    e.add_argument("--split", default="test", help="train, validation or test")
    e.add_argument(
        "--plots",
        default=None,
        metavar="DIR",
        help="also write PNGs: expert utilisation, gates, training curves",
    )
    e.set_defaults(func=run_evaluate)


def run_evaluate(args) -> int:
    path = model_file(args.model)
    data = load_model_split(args, path)
    model = load_keras_model(path)
    labelled = set(data[args.split].labels)
    for task in model.tasks:
        if task.name not in labelled:
            raise CommandError(
                f"model task '{task.name}' has no labels in the data (its tasks: "
                f"{', '.join(sorted(labelled)) or 'none'}); evaluate on data that has its label "
                "column."
            )
    from tfmtl import training

    report = training.evaluate(model, data, args.split)
    print(json.dumps({args.split: report}, indent=2))
    if args.plots:
        from tfmtl.plots import write_plots

        history = path.with_name("history.json")
        history = json.loads(history.read_text()) if history.is_file() else None
        try:
            written_paths = write_plots(model, data, args.split, Path(args.plots), history=history)
        except ValueError as e:
            raise CommandError(f"--plots: {e}") from None
        for written in written_paths:
            print(f"[tfmtl] wrote {written}", file=sys.stderr, flush=True)
    return 0
