"""`tfmtl demo`: train -> export -> serve -> rank, end to end on loopback, in about a minute.

1. trains a small PLE (Tang et al., RecSys'20) on the embedded demo data (`load_demo`: click,
   finish within clicks, watch time; no download);
2. exports it as `BASE/ple/1` with a default fusion of PLE eq 1,
   `score = p_click · p_finish · log1p(video_len)`, and a facet group;
3. starts the embedded PredictionService and the ranking service on free loopback ports;
4. ranks a few queries (one user, several candidate videos each), with the default fusion, a
   per-request override and facet routing, and prints the ranked tables;
5. shuts both servers down.

The command composes library functions (`tfmtl.training`, `tfmtl.export.export_saved_model`,
`tfmtl.serving.serve`, `tfmtl.serving.RankingServer`); `tfmtl.serving` itself only knows
SavedModels. The ranking step is `tfmtl.cli.demo_ranking`.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

from tfmtl.cli.demo_ranking import rank_queries, say

DEMO_FUSION = {
    "kind": "product",
    "weights": {"click": 1.0, "finish": 1.0, "watch_time": 0.0},
    "length_feature": "video_len",
    "length_transform": "log1p",
}
FACET_GROUPS = {"retention": ["finish", "watch_time"]}
PLE = {
    "num_task_experts": 1,
    "num_shared_experts": 1,
    "expert_units": [[32], [16]],
    "num_levels": 2,
}


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
    return run(
        rows=args.rows,
        epochs=args.epochs,
        queries=args.queries,
        candidates=args.candidates,
        workdir=args.workdir,
        seed=args.seed,
    )


def run(
    rows: int = 8_000,
    epochs: int = 4,
    queries: int = 3,
    candidates: int = 8,
    workdir=None,
    seed: int = 0,
) -> int:
    """Train, export, serve and rank on the demo data; print each step and the ranked tables.

    Args:
        rows: int. Demo rows to generate. Defaults to `8_000`.
        epochs: int. Training epochs. Defaults to `4`.
        queries: int. Rank requests sent. Defaults to `3`.
        candidates: int. Candidates per request. Defaults to `8`.
        workdir: str, Path or None. Keep the export here. Defaults to `None` (a temporary
            folder, removed at the end).
        seed: int. Seed of the data, the model and the queries. Defaults to `0`.

    Returns:
        The exit status, `0`.
    """
    start = time.time()
    with contextlib.ExitStack() as stack:
        root = (
            Path(workdir)
            if workdir
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tfmtl-demo-")))
        )
        root.mkdir(parents=True, exist_ok=True)
        model, data, report = _train(start, rows, epochs, seed)
        version_dir = _export(start, model, report, root / "models")
        ranker = _start_servers(start, root / "models" / "ple", stack)
        rank_queries(start, ranker.address, data, queries, candidates, seed)
        say(start, "shutting down the ranking service and the PredictionService")
    kept = f"kept in {version_dir}" if workdir else "in a temporary folder, removed"
    say(start, f"done (export was {kept})")
    return 0


def _train(start: float, rows: int, epochs: int, seed: int):
    from tfmtl import training
    from tfmtl.data.demo import load_demo
    from tfmtl.models.zoo import build_model

    data = load_demo(rows=rows, seed=seed)
    say(start, f"1/5 data: {data.description}")
    training.set_seed(seed)
    model = build_model("ple", data.spec, data.tasks, **PLE)
    model.metadata["facet_groups"] = FACET_GROUPS
    training.compile_multitask(model, learning_rate=3e-3)
    say(start, f"2/5 training a PLE ({model.count_params():,} parameters) for {epochs} epoch(s)")
    training.fit(model, data, epochs=epochs, batch_size=256, seed=seed, verbose=2)
    report = training.evaluate(model, data, "test")
    say(start, f"    test: {', '.join(_metric(t, m) for t, m in report.items())}")
    return model, data, report


def _metric(task: str, metrics: dict) -> str:
    """`click AUC 0.712` for a classification task, `watch_time MSE 0.031` for a regression."""
    if "auc" in metrics:
        return f"{task} AUC {metrics['auc']:.3f}"
    return f"{task} MSE {metrics['mse']:.3f}"


def _export(start: float, model, report: dict, base: Path) -> Path:
    from tfmtl.export import export_saved_model

    path = export_saved_model(model, base, "ple", fusion=DEMO_FUSION, metrics={"test": report})
    say(start, f"3/5 exported {path} (default fusion: click^1 x finish^1 x log1p(video_len))")
    return path


def _start_servers(start: float, base_path: Path, stack):
    """Both servers on free loopback ports, stopped when `stack` closes; returns the ranker."""
    from tfmtl.serving import RankingServer, serve

    predictor = serve(base_path, "ple", port=0, host="127.0.0.1", poll_seconds=1.0)
    stack.callback(predictor.stop)
    ranker = RankingServer(predictor.address, port=0, host="127.0.0.1").start()
    stack.callback(ranker.stop)
    say(start, f"4/5 PredictionService on {predictor.address}, RankingService on {ranker.address}")
    return ranker
