"""`tfmtl inspect`: an export's signatures and metadata, or a ranking request to try it with.

tfmtl inspect models/ranker[/3] [--json]
tfmtl inspect models/ranker --request > query.json
"""

from __future__ import annotations

import json

from tfmtl.cli.errors import CommandError


def register(sub) -> None:
    i = sub.add_parser(
        "inspect",
        help="print an export's signatures and metadata",
        description=__doc__.split("\n\n")[0],
    )
    i.add_argument("path", help="BASE/NAME (latest version) or BASE/NAME/VERSION")
    i.add_argument("--json", action="store_true", help="print machine-readable JSON")
    i.add_argument(
        "--request",
        action="store_true",
        help="print a valid ranking request for this export (input of `tfmtl rank --request "
        "@FILE`)",
    )
    i.add_argument("--candidates", type=int, default=5, help="candidates in the --request example")
    i.set_defaults(func=run_inspect)


def run_inspect(args) -> int:
    from tfmtl.export.inspect import describe, inspect_export
    from tfmtl.export.layout import ExportError

    try:
        if args.request:
            from tfmtl.cli.rank import example_request

            print(json.dumps(example_request(args.path, args.candidates), indent=2))
        else:
            print(
                json.dumps(inspect_export(args.path), indent=2)
                if args.json
                else describe(args.path)
            )
    except (ExportError, ValueError) as e:
        raise CommandError(str(e)) from None
    return 0
