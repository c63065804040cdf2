"""`tfmtl export` and `tfmtl inspect`.

    tfmtl export --model runs/ple/model.keras --base models --name ranker [--version 3]
    tfmtl inspect models/ranker[/3] [--json]
"""

from __future__ import annotations

import json
import time
from pathlib import Path


def register(subparsers) -> None:
    e = subparsers.add_parser("export", help="export a model.keras to BASE/NAME/VERSION as a TF Serving SavedModel")
    e.add_argument("--model", required=True, help="path to model.keras (as written by `tfmtl train`)")
    e.add_argument("--base", required=True, help="model base directory (TF Serving's parent of --model_base_path)")
    e.add_argument("--name", required=True, help="model name: BASE/NAME is what tensorflow_model_server serves")
    e.add_argument("--version", type=int, default=None, help="integer version (default: latest + 1); never overwritten")
    e.add_argument("--metrics", default=None, help="training metrics JSON (default: metrics.json beside --model)")
    e.add_argument(
        "--fusion", default=None, help='fusion overrides as JSON, e.g. \'{"weights": {"ctr": 1, "cvr": 0.5}}\''
    )
    e.set_defaults(func=run_export)

    i = subparsers.add_parser("inspect", help="print an export's signatures and metadata")
    i.add_argument("path", help="BASE/NAME (latest version) or BASE/NAME/VERSION")
    i.add_argument("--json", action="store_true", help="print machine-readable JSON")
    i.set_defaults(func=run_inspect)


def run_export(args) -> int:
    from tfmtl.cli import CommandError
    from tfmtl.export.layout import ExportError, directory_size
    from tfmtl.export.saved_model import export_saved_model

    model = Path(args.model)
    if not model.is_file():
        raise CommandError(f"--model {model} is not a file; expected a model.keras written by `tfmtl train`.")
    metrics = _read_json(args.metrics or model.with_name("metrics.json"), "--metrics", required=bool(args.metrics))
    fusion = _parse_json(args.fusion, "--fusion") if args.fusion else None
    start = time.time()
    try:
        path = export_saved_model(model, args.base, args.name, version=args.version, fusion=fusion, metrics=metrics)
    except ExportError as e:
        raise CommandError(str(e)) from e
    seconds = time.time() - start
    print(f"[tfmtl] exported {model} -> {path} in {seconds:.1f} s ({directory_size(path) / 1e6:.2f} MB)", flush=True)
    return 0


def run_inspect(args) -> int:
    from tfmtl.cli import CommandError
    from tfmtl.export.inspect import describe, inspect_export
    from tfmtl.export.layout import ExportError

    try:
        print(json.dumps(inspect_export(args.path), indent=2) if args.json else describe(args.path))
    except ExportError as e:
        raise CommandError(str(e)) from e
    return 0


def _read_json(path: Path, flag: str, required: bool):
    from tfmtl.cli import CommandError

    path = Path(path)
    if not path.is_file():
        if required:
            raise CommandError(f"{flag} {path} is not a file.")
        return None
    return _parse_json(path.read_text(), f"{flag} {path}")


def _parse_json(text: str, what: str):
    from tfmtl.cli import CommandError

    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise CommandError(f"{what} is not valid JSON ({e}).") from e
