"""The `tfmtl` command: one module per sub-command, one flag style.

    tfmtl init --data shop.csv --task click:label=clicked > run.yaml
    tfmtl train --config run.yaml --output runs/ple [--set model.family=mmoe]
    tfmtl reproduce ple-census --quick
    tfmtl export --model runs/ple/model.keras --base models --name ranker
    tfmtl serve --model_base_path models/ranker --model_name ranker

Flags are `--kebab-case`; `serve`, `rank-server` and `rank` keep `tensorflow_model_server`'s
`--snake_case` names, and every flag answers to both spellings. A mistake is one line on
stderr and exit status 2 (`--debug` shows the traceback). TensorFlow loads only for the
commands that need it, so `--help` is instant, and its C++ log lines are hidden unless
`--verbose`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tfmtl.cli.errors import CommandError

COMMANDS = (
    "init",
    "train",
    "evaluate",
    "reproduce",
    "export",
    "fusion_search",
    "inspect",
    "serve",
    "rank_server",
    "rank",
    "demo",
    "models",
    "datasets",
)

__all__ = ["CommandError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    from tfmtl import __version__

    parser = argparse.ArgumentParser(
        prog="tfmtl",
        description="Multi-task recommender rankers: init, train, export, serve, rank.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tfmtl {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's own log lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"tfmtl.cli.{name}").register(sub)
    for command in sub.choices.values():  # every sub-command's help shows its defaults
        command.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    argv = _both_spellings(list(sys.argv[1:] if argv is None else argv), parser)
    args = parser.parse_args(argv)
    if not args.verbose:
        from tfmtl.cli.quiet import quiet_tensorflow

        quiet_tensorflow()
    try:
        return args.func(args) or 0
    except CommandError as e:
        if args.debug:
            raise
        print(f"tfmtl {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `tfmtl models | head`
        sys.stderr.close()
        return 0


def _both_spellings(argv: list, parser: argparse.ArgumentParser) -> list:
    """`--batch_size` for `--batch-size` and `--model-name` for `--model_name`: either works."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in sub.choices:
        return argv
    known = {s for action in sub.choices[command]._actions for s in action.option_strings}
    out = []
    for arg in argv:
        flag, eq, value = arg.partition("=")
        if flag.startswith("--") and flag not in known:
            for alternative in (flag.replace("_", "-"), "--" + flag[2:].replace("-", "_")):
                if alternative in known:
                    flag = alternative
                    break
        out.append(flag + eq + value)
    return out
