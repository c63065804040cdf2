"""`tfmtl demo`: train -> export -> serve -> rank, end to end on loopback, in about a minute.

1. trains a small PLE (Tang et al., RecSys'20) on the embedded demo data (`load_demo`: click,
   finish within clicks, watch time; no download);
2. exports it as `BASE/ple/1` with a default fusion of PLE eq 1,
   `score = p_click · p_finish · log1p(video_len)`, and a facet group;
3. starts the embedded PredictionService and the ranking service on free loopback ports;
4. ranks a few queries (one user, several candidate videos each), with the default fusion, a
   per-request override and facet routing, and prints the ranked tables;
5. shuts both servers down.

Example:

>>> run(rows=8000, epochs=4)
0
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np

USER_FEATURES = ("x0", "x1", "x2", "x3", "segment")
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


def _say(start: float, message: str) -> None:
    print(f"[tfmtl demo {time.time() - start:5.1f}s] {message}", flush=True)


def run(
    rows: int = 8_000,
    epochs: int = 4,
    queries: int = 3,
    candidates: int = 8,
    workdir=None,
    seed: int = 0,
) -> int:
    start = time.time()
    with contextlib.ExitStack() as stack:
        root = (
            Path(workdir)
            if workdir
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tfmtl-demo-")))
        )
        root.mkdir(parents=True, exist_ok=True)
        model, data = _train(start, rows, epochs, seed)
        version_dir = _export(start, model, root / "models")
        servers = _start_servers(start, root / "models" / "ple", stack)
        _rank(start, servers[1].address, data, queries, candidates, seed)
        _say(start, "shutting down the ranking service and the PredictionService")
    _say(
        start,
        f"done (export was {'kept in ' + str(version_dir) if workdir else 'in a temporary folder, removed'})",
    )
    return 0


def _train(start: float, rows: int, epochs: int, seed: int):
    from tfmtl import training
    from tfmtl.data.demo import load_demo
    from tfmtl.models.zoo import build_model

    data = load_demo(rows=rows, seed=seed)
    _say(start, f"1/5 data: {data.description}")
    training.set_seed(seed)
    model = build_model("ple", data.spec, data.tasks, **PLE)
    model.metadata["facet_groups"] = FACET_GROUPS
    training.compile_multitask(model, learning_rate=3e-3)
    _say(start, f"2/5 training a PLE ({model.count_params():,} parameters) for {epochs} epoch(s)")
    training.fit(model, data, epochs=epochs, batch_size=256, seed=seed, verbose=2)
    report = training.evaluate(model, data, "test")
    shown = ", ".join(
        f"{t} {'AUC ' + format(m['auc'], '.3f') if 'auc' in m else 'MSE ' + format(m['mse'], '.3f')}"
        for t, m in report.items()
    )
    _say(start, f"    test: {shown}")
    model.demo_report = report
    return model, data


def _export(start: float, model, base: Path) -> Path:
    from tfmtl.export import export_saved_model

    path = export_saved_model(
        model, base, "ple", fusion=DEMO_FUSION, metrics={"test": model.demo_report}
    )
    _say(start, f"3/5 exported {path} (default fusion: click^1 x finish^1 x log1p(video_len))")
    return path


def _start_servers(start: float, base_path: Path, stack):
    from tfmtl.serving import RankingServer, serve

    predictor = serve(base_path, "ple", port=0, host="127.0.0.1", poll_seconds=1.0)
    stack.callback(predictor.stop)
    ranker = RankingServer(predictor.address, port=0, host="127.0.0.1").start()
    stack.callback(ranker.stop)
    _say(start, f"4/5 PredictionService on {predictor.address}, RankingService on {ranker.address}")
    return predictor, ranker


def _rank(start: float, address: str, data, queries: int, candidates: int, seed: int) -> None:
    from tfmtl.serving import RankingClient, format_ranking

    test = data["test"].features
    rng = np.random.default_rng(seed)
    item_features = [k for k in test if k not in USER_FEATURES]
    _say(
        start,
        f"5/5 ranking {queries} queries of {candidates} candidates (user features: "
        f"{', '.join(USER_FEATURES)}; candidate features: {', '.join(item_features)})",
    )
    variants = [
        ("default fusion: PLE eq 1 = p_click * p_finish * log1p(video_len)", {}),
        (
            "override: finish weighted 3x, no length factor",
            {"fusion": {"weights": {"finish": 3.0}, "length_feature": ""}},
        ),
        (
            "facet group 'retention': only the finish and watch_time heads",
            {"facet_group": "retention"},
        ),
    ]
    with RankingClient(address) as client:
        for q in range(queries):
            user = int(rng.integers(len(test["x0"])))
            picks = rng.choice(len(test["x0"]), size=candidates, replace=False)
            context = {k: test[k][user] for k in USER_FEATURES}
            items = {f"video{int(i):04d}": {k: test[k][i] for k in item_features} for i in picks}
            title, kwargs = variants[q % len(variants)]
            t0 = time.perf_counter()
            response = client.rank("ple", context, items, **kwargs)
            ms = (time.perf_counter() - t0) * 1e3
            print(
                f"\nquery {q + 1}: user row {user} (segment {context['segment']}), {title} "
                f"[model version {response.model_version}, {ms:.1f} ms]"
            )
            lengths = {cid: f["video_len"] for cid, f in items.items()}
            table = format_ranking(response).splitlines()
            print(table[0] + f"  {'video_len':>9}")
            print(table[1] + "-" * 11)
            for line, c in zip(table[2:], response.candidates):
                print(line + f"  {lengths[c.id]:>9.0f}")
    print(flush=True)
