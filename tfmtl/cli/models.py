"""`tfmtl models`: every model family, with its hyper-parameters and their defaults."""

from __future__ import annotations

import json


def register(sub) -> None:
    m = sub.add_parser("models", help="list the model families and their default hyper-parameters")
    m.add_argument("--json", action="store_true", help="print machine-readable JSON")
    m.set_defaults(func=run_models)


def run_models(args) -> int:
    from tfmtl.models.registry import available_families, family_defaults

    families = {name: family_defaults(name) for name in available_families()}
    if args.json:
        print(json.dumps(families, indent=2))
        return 0
    width = max(map(len, families))
    for name, defaults in families.items():
        shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in defaults.items() if k != "family")
        print(f"{name:<{width}}  {shown}")
    return 0
