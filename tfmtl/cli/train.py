"""`tfmtl train`: a run config (or a built-in dataset and a model family) -> a run directory.

    tfmtl train --config run.yaml --output runs/ple \\
        [--set model.family=mmoe --set training.epochs=5]
    tfmtl train --model ple --dataset census --epochs 5 --output runs/ple

The run directory holds `model.keras`, `metrics.json` (validation and test metrics),
`config.yaml` (the resolved config, features as used) and `history.json`. It is written as
`OUTPUT.partial` and renamed when complete; a killed run started again with the same
arguments resumes from its last finished epoch.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

from tfmtl.cli.errors import CommandError, json_argument
from tfmtl.distribution import DISTRIBUTIONS

# Where a `tfmtl train` user points a built-in dataset at its files.
DATA_DIR_SETTING = "--data-dir, or data.data_dir in a run config"


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from a run config (or --model and --dataset); write a run directory",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--config", default=None, help="run config (YAML; `tfmtl init` writes one)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. model.family=mmoe or training.epochs=5 (repeatable)",
    )
    p.add_argument("--output", required=True, help="run directory to create (must not exist)")
    p.add_argument(
        "--model", default=None, help="model family (see `tfmtl models`), instead of the config's"
    )
    add_data_flags(p)
    _add_training_flags(p)
    p.set_defaults(func=run_train)


def _add_training_flags(p) -> None:
    """Flags that override the run config's `training:` and `model:` keys."""
    p.add_argument("--epochs", type=int, default=None, help="training.epochs (default 10)")
    p.add_argument(
        "--batch-size", type=int, default=None, help="training.batch_size (default 1024)"
    )
    p.add_argument(
        "--learning-rate", type=float, default=None, help="training.learning_rate (default 0.001)"
    )
    p.add_argument("--seed", type=int, default=None, help="training.seed (default 0)")
    p.add_argument(
        "--patience",
        type=int,
        default=None,
        help="early stopping on validation loss after N epochs",
    )
    p.add_argument(
        "--precision",
        default=None,
        choices=("float32", "mixed_bfloat16"),
        help="Keras dtype policy: mixed_bfloat16 computes in bfloat16 with float32 weights "
        "and heads",
    )
    p.add_argument(
        "--distribution",
        default=None,
        choices=DISTRIBUTIONS,
        help="training.distribution: mirrored (TF, every local device), multi_worker (TF, from "
        "TF_CONFIG), jax_data_parallel (JAX, every process's devices), jax_model_parallel (as "
        "jax_data_parallel, embedding rows split over each host's devices); see "
        "docs/distributed.md",
    )
    p.add_argument(
        "--tensorboard",
        default=None,
        metavar="DIR",
        help="training.tensorboard: write TensorBoard logs",
    )
    p.add_argument(
        "--loss-balancing",
        default=None,
        metavar="STRATEGY",
        help="training.loss_balancing: fixed, ple_decay, uncertainty, dwa, rlw, gradnorm, pcgrad, "
        'metabalance, or JSON with options, e.g. \'{"strategy": "dwa", "temperature": 2}\'',
    )
    p.add_argument(
        "--hparams",
        default=None,
        help="JSON of model hyper-parameters, e.g. '{\"num_experts\": 4}'",
    )


def add_data_flags(p) -> None:
    p.add_argument(
        "--dataset",
        default=None,
        help="a built-in dataset (see `tfmtl datasets`), instead of the config's data",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="data root of a built-in dataset (default: $TFMTL_DATA_DIR)",
    )
    p.add_argument("--rows", type=int, default=None, help="rows of a generated dataset")
    p.add_argument(
        "--protocol",
        default=None,
        choices=("published", "test-only"),
        help="Census split: published (train on census-income.data.gz, the test file halved) or "
        "test-only (the test file split 60/20/20); default: published when the training file is "
        "present",
    )


def resolve_config(args, need_model: bool = True) -> dict:
    """The run config the flags describe: --config, then --dataset/--model/flags, then --set."""
    from tfmtl.config import ConfigError, load_config, parse_config

    overrides = []
    if args.dataset is not None:
        if Path(args.dataset).suffix or os.sep in args.dataset:
            raise CommandError(
                f"--dataset {args.dataset}: not a built-in dataset; for your own files write a "
                f"run config: tfmtl init --data {args.dataset} --task NAME:label=COLUMN > run.yaml"
            )
        overrides.append(f"data={json.dumps({'dataset': args.dataset})}")
        for flag, key in (("data_dir", "data_dir"), ("rows", "rows"), ("protocol", "protocol")):
            if getattr(args, flag) is not None:
                overrides.append(f"data.{key}={json.dumps(getattr(args, flag))}")
    elif any(getattr(args, f) is not None for f in ("data_dir", "rows", "protocol")):
        raise CommandError(
            "--data-dir, --rows and --protocol go with --dataset; in a run config they are data.* "
            "keys."
        )
    family = getattr(args, "model", None) if need_model else None  # evaluate's --model is a file
    if family is not None:
        hparams = _hparams(getattr(args, "hparams", None))
        overrides.append(f"model={json.dumps({'family': family, **hparams})}")
    elif getattr(args, "hparams", None) is not None:
        overrides += [f"model.{k}={json.dumps(v)}" for k, v in _hparams(args.hparams).items()]
    for flag, key in (
        ("epochs", "epochs"),
        ("batch_size", "batch_size"),
        ("learning_rate", "learning_rate"),
        ("seed", "seed"),
        ("precision", "precision"),
        ("distribution", "distribution"),
        ("tensorboard", "tensorboard"),
        ("patience", "early_stopping"),
    ):
        if getattr(args, flag, None) is not None:
            overrides.append(f"training.{key}={json.dumps(getattr(args, flag))}")
    if getattr(args, "loss_balancing", None) is not None:  # a name, or JSON with options
        text = args.loss_balancing
        overrides.append(
            f"training.loss_balancing={text if text.lstrip().startswith('{') else json.dumps(text)}"
        )
    overrides += getattr(args, "set", [])
    try:
        if args.config:
            return load_config(args.config, overrides)
        if args.dataset is None:
            raise CommandError(
                "give --config run.yaml (see `tfmtl init`), or --dataset NAME with --model FAMILY."
            )
        if need_model and family is None and not any(o.startswith("model") for o in overrides):
            raise CommandError(
                "--dataset needs --model FAMILY (see `tfmtl models`), or use --config."
            )
        return parse_config("{}", overrides, source="flags")
    except ConfigError as e:
        raise CommandError(str(e)) from None


def _hparams(text):
    if text is None:
        return {}
    value = json_argument(text, "--hparams")
    if not isinstance(value, dict):
        raise CommandError(f"--hparams must be a JSON object; got {text!r}.")
    return value


def load_data(config: dict):
    """The config's data, or a one-line CommandError naming what is wrong with it."""
    from tfmtl.data.paths import MissingDataError
    from tfmtl.data.run_data import load_run_data

    try:
        return load_run_data(config)
    except MissingDataError as e:
        raise CommandError(e.message(DATA_DIR_SETTING)) from None
    except (FileNotFoundError, ValueError, KeyError) as e:
        raise CommandError(str(e).strip("'\"")) from None


def load_model_split(args, path: Path):
    """The data `--split` of a trained model at `path` is read from: `--config`/`--dataset`, else
    the config.yaml beside it (`tfmtl evaluate`, `tfmtl fusion-search`)."""
    if args.config is None and args.dataset is None:
        beside = path.with_name("config.yaml")
        if not beside.is_file():
            raise CommandError(
                f"--model {path}: no config.yaml beside it; name the data with --config or "
                "--dataset."
            )
        args.config = str(beside)
    config = resolve_config(args, need_model=False)
    start = time.time()
    data, _ = load_data(config)
    if args.split not in data.splits:
        raise CommandError(
            f"--split {args.split}: the data has no such split; it has: {', '.join(data.splits)}."
        )
    print(f"[tfmtl] {data.description} ({time.time() - start:.1f} s)", file=sys.stderr, flush=True)
    return data


def run_train(args) -> int:
    out = Path(args.output)
    if out.exists():
        raise CommandError(
            f"--output {out} exists; choose a new directory (runs are never overwritten)."
        )
    config = resolve_config(args)
    from tfmtl.cli.fitting import train_run

    start = time.time()
    data, notes = load_data(config)
    print(f"[tfmtl] {data.description} ({time.time() - start:.1f} s)", flush=True)
    from tfmtl import distribution

    partial = out.with_name(out.name + ".partial")  # a killed run resumes from here
    if not distribution.is_chief():  # a worker trains with the chief; the chief writes the run
        own = out.with_name(f"{out.name}.worker{distribution.worker_index()}.partial")
        train_run(config, data, own, chief=partial)  # resumes from the chief's backup
        shutil.rmtree(own, ignore_errors=True)
        print(f"[tfmtl] worker {distribution.worker_index()} done; the chief writes {out}/")
        return 0
    metrics = train_run(config, data, partial)
    (partial / "config.yaml").write_text(_config_yaml(config, data))
    shutil.rmtree(partial / "backup", ignore_errors=True)
    os.replace(partial, out)
    print_report(metrics)
    print(f"[tfmtl] wrote {out}/: model.keras, metrics.json, config.yaml, history.json", flush=True)
    return 0


def _config_yaml(config: dict, data) -> str:
    """The resolved config, with the features as used when read from files.

    With `features: auto` those are what was inferred.
    """
    import yaml

    from tfmtl.data.run_data import config_features

    resolved = dict(config)
    if "dataset" not in config["data"]:
        resolved["features"] = config_features(data.spec)
    return yaml.safe_dump(resolved, sort_keys=False, default_flow_style=None, width=120)


def print_report(metrics: dict) -> None:
    for split in ("validation", "test"):
        for task, m in metrics.get(split, {}).items():
            shown = ", ".join(f"{k} {v:.4f}" for k, v in m.items() if k != "count")
            print(f"[tfmtl] {split:<10} {task:<16} {shown} (n={m['count']:,})")
