"""`tfmtl reproduce`: one of the papers' tables, trained and written as Markdown.

    tfmtl reproduce --list
    tfmtl reproduce ple-census [--seeds 3] [--quick] [--out benchmarks/results/reproduce]

Writes `OUT/NAME.md` (the command, mean ± std over seeds, the paper's numbers beside ours) and
`OUT/NAME.jsonl` (one finished run a line: a rerun skips them, a killed run resumes).
`--quick` trains a few hundred rows for one epoch, one seed: it proves the table runs.
"""

from __future__ import annotations

import os
import shlex

from tfmtl.cli.errors import CommandError


def register(sub) -> None:
    from tfmtl.reproduce.runner import DEFAULT_OUT

    p = sub.add_parser(
        "reproduce",
        help="train one of the papers' tables (see --list) and write it as Markdown",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("name", nargs="?", default=None, metavar="NAME", help="the table (--list)")
    p.add_argument("--list", action="store_true", help="list the tables and what each holds")
    p.add_argument(
        "--seeds", type=int, default=None, help="seeds 0 .. N-1 per row (default: the table's)"
    )
    p.add_argument(
        "--quick", action="store_true", help="a few hundred training rows, 1 epoch, 1 seed"
    )
    p.add_argument("--out", default=DEFAULT_OUT, help="folder for NAME.md and NAME.jsonl")
    p.set_defaults(func=run_reproduce)


def run_reproduce(args) -> int:
    from tfmtl.reproduce import available_tables, load_table

    if args.list:
        for name in available_tables():
            print(f"{name:16s} {load_table(name).TITLE}")
        return 0
    if args.name is None:
        raise CommandError("give a table NAME; `tfmtl reproduce --list` lists them.")
    if args.name not in available_tables():
        raise CommandError(
            f"NAME {args.name!r} is not a table; choose one of: {', '.join(available_tables())}."
        )
    if args.seeds is not None and args.seeds < 1:
        raise CommandError(f"--seeds must be >= 1; got {args.seeds}.")
    from tfmtl.reproduce.runner import reproduce

    path = reproduce(args.name, args.seeds, args.quick, args.out, command_line(args))
    print(path.read_text(), flush=True)
    print(f"[tfmtl] wrote {path} and {path.with_suffix('.jsonl')}", flush=True)
    return 0


def command_line(args) -> str:
    """The command that makes this table, with the data folder it read."""
    words = ["tfmtl", "reproduce", args.name]
    if args.seeds is not None:
        words += ["--seeds", str(args.seeds)]
    if args.quick:
        words.append("--quick")
    words += ["--out", str(args.out)]
    command = shlex.join(words)
    if os.environ.get("TFMTL_DATA_DIR"):
        command = f"TFMTL_DATA_DIR={shlex.quote(os.environ['TFMTL_DATA_DIR'])} {command}"
    return command
