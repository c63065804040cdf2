"""`tfmtl demo`: train, export, serve and rank on the embedded demo data, then shut down."""

from __future__ import annotations


def register(sub) -> None:
    d = sub.add_parser(
        "demo", help="train a small PLE, export it, serve it, rank a few queries, shut down"
    )
    d.add_argument("--rows", type=int, default=8_000)
    d.add_argument("--epochs", type=int, default=4)
    d.add_argument("--queries", type=int, default=3)
    d.add_argument("--candidates", type=int, default=8)
    d.add_argument(
        "--workdir",
        default=None,
        help="keep the model and export here (default: a temporary folder)",
    )
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=run_demo)


def run_demo(args) -> int:
    from tfmtl.serving.demo import run

    return run(
        rows=args.rows,
        epochs=args.epochs,
        queries=args.queries,
        candidates=args.candidates,
        workdir=args.workdir,
        seed=args.seed,
    )
