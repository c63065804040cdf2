"""The `tfmtl` command: train and evaluate here; export and serving add their own sub-commands.

    tfmtl train --model ple --dataset census --epochs 10 --output runs/ple
    tfmtl evaluate --model runs/ple/model.keras --dataset census --split test
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

# Sub-command modules: each has `register(subparsers)`; set_defaults(func=...) runs it.
_COMMAND_MODULES = ("tfmtl.export.commands", "tfmtl.serving.commands")


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def register_train(sub) -> None:
    from tfmtl.models.zoo import available_models

    p = sub.add_parser("train", help="train a zoo model on a dataset; write model.keras and metrics.json")
    p.add_argument("--model", required=True, help=f"one of: {', '.join(available_models())}")
    _add_data_flags(p)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--output", required=True, help="run directory to create (must not exist)")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--patience", type=int, default=None, help="early stopping on validation loss")
    p.add_argument("--hparams", default="{}", help='JSON of model hyper-parameters, e.g. \'{"num_experts": 4}\'')
    p.add_argument("--precision", default="float32", choices=("float32", "mixed_bfloat16"),
                   help="Keras dtype policy of the model: mixed_bfloat16 computes in bfloat16 with float32 "
                        "weights and heads (fast on CPUs with AVX512_BF16/AMX and on GPUs; docs/backends.md)")
    p.set_defaults(func=run_train)

    e = sub.add_parser("evaluate", help="evaluate a saved model on a dataset split")
    e.add_argument("--model", required=True, help="path to model.keras")
    _add_data_flags(e)
    e.add_argument("--split", default="test")
    e.set_defaults(func=run_evaluate)


def _load_data(args):
    """The dataset the flags name; a flag the dataset does not take is an error, not ignored."""
    from tfmtl.data.registry import dataset_parameters, load_dataset

    try:
        accepted = dataset_parameters(args.dataset)
        kwargs = {}
        for flag, param, value in (("--data-dir", "data_dir_", args.data_dir), ("--rows", "rows", args.rows),
                                   ("--protocol", "protocol", args.protocol)):
            if value is None:
                continue
            if param not in accepted:
                raise CommandError(f"{flag} does not apply to dataset '{args.dataset}' (it takes no {param.rstrip('_')}).")
            kwargs[param] = value
        return load_dataset(args.dataset, **kwargs)
    except (FileNotFoundError, ValueError) as e:
        raise CommandError(str(e)) from e


def _add_data_flags(p) -> None:
    from tfmtl.data.registry import available_datasets

    p.add_argument("--dataset", required=True, help=f"one of: {', '.join(available_datasets())}")
    p.add_argument("--data-dir", default=None, help="data root (default: $TFMTL_DATA_DIR)")
    p.add_argument("--rows", type=int, default=None, help="rows of a generated dataset")
    p.add_argument("--protocol", default=None, choices=("published", "test-only"),
                   help="Census split: published (train on census-income.data.gz, the test file halved into "
                        "validation/test) or test-only (the test file split 60/20/20); default: published when "
                        "the training file is present")


def run_train(args) -> int:
    from tfmtl.models.zoo import build_model
    from tfmtl import training

    out = Path(args.output)
    if out.exists():
        raise CommandError(f"Output directory {out} exists; choose a new --output (runs are never overwritten).")
    try:
        hparams = json.loads(args.hparams)
    except json.JSONDecodeError as e:
        raise CommandError(f"--hparams is not valid JSON ({e}): {args.hparams!r}") from e
    data = _load_data(args)
    print(f"[tfmtl] {data.description}", flush=True)
    partial = out.with_name(out.name + ".partial")  # a killed run resumes from here
    partial.mkdir(parents=True, exist_ok=True)
    training.set_seed(args.seed)
    try:
        with training.dtype_policy(args.precision):
            model = build_model(args.model, data.spec, data.tasks, **hparams)
    except (TypeError, ValueError) as e:
        raise CommandError(str(e)) from e
    training.compile_multitask(model, learning_rate=args.learning_rate)
    start = time.time()
    history = training.fit(
        model, data, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
        backup_dir=partial / "backup", early_stopping_patience=args.patience, verbose=2,
    )
    seconds = time.time() - start
    metrics = {
        "model": args.model, "dataset": args.dataset, "description": data.description,
        "hparams": model.metadata.get("hparams", {}), "precision": args.precision,
        "epochs_run": len(history.history.get("loss", [])),
        "train_seconds": round(seconds, 2),
        **{split: training.evaluate(model, data, split) for split in ("validation", "test") if split in data.splits},
    }
    model.save(partial / "model.keras")
    (partial / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (partial / "history.json").write_text(json.dumps({k: [float(v) for v in vs] for k, vs in history.history.items()}, indent=2))
    shutil.rmtree(partial / "backup", ignore_errors=True)
    os.replace(partial, out)
    _print_report(metrics)
    print(f"[tfmtl] wrote {out}/model.keras, metrics.json, history.json", flush=True)
    return 0


def run_evaluate(args) -> int:
    import keras

    from tfmtl import training

    path = Path(args.model)
    if not path.is_file():
        raise CommandError(f"--model {path} is not a file; expected a model.keras written by `tfmtl train`.")
    model = keras.saving.load_model(path)
    data = _load_data(args)
    report = training.evaluate(model, data, args.split)
    print(json.dumps({args.split: report}, indent=2))
    return 0


def _print_report(metrics: dict) -> None:
    for split in ("validation", "test"):
        for task, m in metrics.get(split, {}).items():
            shown = ", ".join(f"{k} {v:.4f}" for k, v in m.items() if k != "count")
            print(f"[tfmtl] {split:<10} {task:<16} {shown} (n={m['count']:,})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfmtl", description="Multi-task recommender rankers: train, export, serve, rank.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register_train(sub)
    for module in _COMMAND_MODULES:
        try:
            importlib.import_module(module).register(sub)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except CommandError as e:
        print(f"tfmtl {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
