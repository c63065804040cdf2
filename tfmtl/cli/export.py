"""`tfmtl export`: a run's model.keras -> BASE/NAME/VERSION, a SavedModel TF Serving serves.

tfmtl export --model runs/ple --base models --name ranker [--version 3]
"""

from __future__ import annotations

import time
from pathlib import Path

from tfmtl.cli.errors import CommandError, json_argument, model_file


def register(sub) -> None:
    e = sub.add_parser(
        "export",
        help="export a model.keras to BASE/NAME/VERSION as a TF Serving SavedModel",
        description=__doc__.split("\n\n")[0],
    )
    e.add_argument(
        "--model",
        required=True,
        help="a run directory or its model.keras (as written by `tfmtl train`)",
    )
    e.add_argument(
        "--base",
        required=True,
        help="model base directory (TF Serving's parent of --model_base_path)",
    )
    e.add_argument(
        "--name", required=True, help="model name: BASE/NAME is what tensorflow_model_server serves"
    )
    e.add_argument(
        "--version",
        type=int,
        default=None,
        help="integer version (default: latest + 1); never overwritten",
    )
    e.add_argument(
        "--metrics",
        default=None,
        help="training metrics JSON (default: metrics.json beside --model)",
    )
    e.add_argument(
        "--fusion",
        default=None,
        help="fusion overrides as JSON or @file (default: the run config's export.fusion), "
        'e.g. \'{"weights": {"ctr": 1, "cvr": 0.5}}\'',
    )
    e.set_defaults(func=run_export)


def run_export(args) -> int:
    from tfmtl.export.layout import ExportError, directory_size
    from tfmtl.export.saved_model import export_saved_model

    model = model_file(args.model)
    metrics_path = Path(args.metrics) if args.metrics else model.with_name("metrics.json")
    if args.metrics and not metrics_path.is_file():
        raise CommandError(f"--metrics {metrics_path} is not a file.")
    metrics = json_argument(f"@{metrics_path}", "--metrics") if metrics_path.is_file() else None
    fusion = json_argument(args.fusion, "--fusion") if args.fusion else _config_fusion(model)
    start = time.time()
    try:
        path = export_saved_model(
            model, args.base, args.name, version=args.version, fusion=fusion, metrics=metrics
        )
    except ExportError as e:
        raise CommandError(str(e)) from None
    seconds = time.time() - start
    print(
        f"[tfmtl] exported {model} -> {path} in {seconds:.1f} s ({directory_size(path) / 1e6:.2f} "
        "MB)",
        flush=True,
    )
    return 0


def _config_fusion(model: Path):
    """`export.fusion` of the run config beside the model, if any."""
    config = model.with_name("config.yaml")
    if not config.is_file():
        return None
    import yaml

    return ((yaml.safe_load(config.read_text()) or {}).get("export") or {}).get("fusion")
