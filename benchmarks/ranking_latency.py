"""Ranking latency and throughput: RankRequest -> RankingService -> PredictionService -> fusion.

A PLE (zoo defaults) on the demo data, exported and served by `tfmtl serve` and
`tfmtl rank-server` in their own processes on loopback; every request carries 500
candidates (request-level user features broadcast) and fusion on (PLE eq 1 with
f = log1p(video_len)). Each server setup is started in turn:

- `plain`: no TLS, no batching (the defaults);
- `batching`: `tfmtl serve --enable_batching` (TF Serving's batching flags);
- `tls`: TLS on both servers and on rank-server's channel to the PredictionService
  (certificates made for the run);
- `in_process`: `tfmtl rank-server --model_base_path`, the model in the ranking server's
  own process (no Predict hop; `tfmtl serve` still runs for the Predict-only row).

For each setup: p50/p99 end-to-end latency of `RankingService.Rank`, one request at a
time, interleaved with the raw in-process model call on the same 500-row batch (the Keras
model inside a `tf.function`, as `model.predict` runs it) and with Predict alone; both
request layouts (`candidates`, a map per candidate, and `candidate_columns`, one packed
list per feature); and candidates/s with 8 concurrent clients (requests built once, so the
clients measure the servers, not Python proto building). On `plain`, also: the exported
serving signature and the eager Keras call for reference, and Rank's p99 while 8 attacker
threads (in their own process) flood the PredictionService with 455-byte Predicts claiming
65,536 rows and the ranking service with Rank requests one candidate over `--max_candidates`
(both refused at once), against its idle p99 (`rank_flood.py`).

Goals from the serving issue: Rank p99 <= 1.5x the raw call; >= 100k candidates/s with 8
clients; Rank p99 under the flood <= 5x idle.

    python benchmarks/ranking_latency.py --quick          # ~3 minutes
    python benchmarks/ranking_latency.py --requests 300 --seconds 20 --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The benchmarks' shared timing, server start and flood, from this folder.
from latency_timing import interleaved, percentiles, timed  # noqa: E402
from rank_flood import under_flood  # noqa: E402
from serving_processes import Servers, start_servers, stop  # noqa: E402

USER = ("x0", "x1", "x2", "x3", "segment")
SETUPS = ("plain", "batching", "tls", "in_process")
FUSION = {"length_feature": "video_len", "length_transform": "log1p"}


def export_ple(seed: int, args, workdir: Path):
    """The zoo PLE on the demo data, trained `args.epochs` and exported with fusion.

    Returns `(data, model, base, version_dir)`: `base` is the serving base path.
    """
    from tfmtl import training
    from tfmtl.data.demo import load_demo
    from tfmtl.export import export_saved_model
    from tfmtl.models.zoo import build_model

    data = load_demo(rows=args.rows, seed=seed)
    training.set_seed(seed)
    model = build_model("ple", data.spec, data.tasks)
    if args.epochs:
        training.compile_multitask(model)
        training.fit(model, data, epochs=args.epochs, batch_size=512, seed=seed, verbose=0)
    base = workdir / f"seed{seed}"
    version_dir = export_saved_model(model, base, "ple", fusion=FUSION)
    print(
        f"[bench] seed {seed}: PLE with {model.count_params():,} parameters exported to "
        f"{version_dir}",
        flush=True,
    )
    return data, model, base, version_dir


def candidate_inputs(test: dict, seed: int, num_candidates: int) -> dict:
    """One test user and `num_candidates` test rows as candidates, in every layout sent.

    Returns a dict: `context` (the user's features), `items` (candidate id -> its features),
    `ids`, `columns` (feature -> one value per candidate), `batch` (the model's inputs, `[C]`
    each), `rank` (the RankRequests, `rows` and `columns` layouts) and `predict` (the
    PredictRequest of `batch`).
    """
    from tensorflow_serving.apis import predict_pb2

    from tfmtl.serving import rank_request
    from tfmtl.serving.tensors import to_tensor_proto

    rng = np.random.default_rng(seed)
    pick = rng.choice(
        len(test["x0"]), size=num_candidates, replace=num_candidates > len(test["x0"])
    )
    user = int(rng.integers(len(test["x0"])))
    context = {k: test[k][user] for k in USER}
    items = {f"item{i}": {k: test[k][j] for k in test if k not in USER} for i, j in enumerate(pick)}
    batch = {
        k: (np.repeat(test[k][user : user + 1], num_candidates) if k in USER else test[k][pick])
        for k in test
    }
    ids = list(items)
    columns = {k: np.stack([np.asarray(items[i][k]) for i in ids]) for k in items[ids[0]]}
    rank = {
        "rows": rank_request("ple", context, items, fusion=FUSION),
        "columns": rank_request("ple", context, columns=columns, ids=ids, fusion=FUSION),
    }
    predict = predict_pb2.PredictRequest()
    predict.model_spec.name = "ple"
    for k, v in batch.items():
        predict.inputs[k].CopyFrom(to_tensor_proto(v))
    return {
        "context": context,
        "items": items,
        "ids": ids,
        "columns": columns,
        "batch": batch,
        "rank": rank,
        "predict": predict,
    }


def client_timings(model, tensors: dict, inputs: dict, requests: int) -> dict:
    """The eager Keras call on the batch, and building each RankRequest layout on the client."""
    from tfmtl.serving import rank_request

    context, items, ids, columns = (inputs[k] for k in ("context", "items", "ids", "columns"))
    return {
        "raw_eager_keras_call": percentiles(
            timed(
                lambda: {k: v.numpy() for k, v in model(tensors, training=False).items()},
                min(requests, 30),
            )
        ),
        "client_request_build": percentiles(
            timed(
                lambda: rank_request("ple", context, items, fusion=FUSION),
                min(requests, 50),
                warmup=1,
            )
        ),
        "client_request_build_columns": percentiles(
            timed(
                lambda: rank_request("ple", context, columns=columns, ids=ids, fusion=FUSION),
                min(requests, 50),
                warmup=1,
            )
        ),
    }


def run_seed(seed: int, args, workdir: Path) -> dict:
    """Exports one seed's PLE, then measures every setup in `args.setups` in turn."""
    import tensorflow as tf

    data, model, base, version_dir = export_ple(seed, args, workdir)
    inputs = candidate_inputs(data["test"].features, seed, args.candidates)
    tensors = {k: tf.constant(v) for k, v in inputs["batch"].items()}
    compiled = tf.function(lambda x: model(x, training=False))

    def keras_call():
        return {k: v.numpy() for k, v in compiled(tensors).items()}

    result = {
        "seed": seed,
        "candidates": args.candidates,
        "parameters": int(model.count_params()),
        **client_timings(model, tensors, inputs, args.requests),
        "setups": {},
    }
    signature = tf.saved_model.load(str(version_dir)).signatures["serving_default"]

    def signature_call():
        return {k: v.numpy() for k, v in signature(**tensors).items()}

    for setup in args.setups:
        servers = start_servers(setup, base, workdir)
        try:
            local_calls = {"raw_keras_call": keras_call}
            if setup == "plain":
                local_calls["raw_signature_call"] = signature_call
            result["setups"][setup] = measure(setup, args, servers, inputs, local_calls)
            print(
                f"[bench] seed {seed}, {setup}: {json.dumps(result['setups'][setup])}", flush=True
            )
        finally:
            stop(servers.procs)
    return result


def measure(setup: str, args, servers: Servers, inputs: dict, local_calls: dict) -> dict:
    """Latency (interleaved with the raw call), throughput and, on `plain`, latency under a flood.

    `local_calls` are the in-process calls timed alongside the servers, by result name; its
    `raw_keras_call` is the reference of the p99 ratios.
    """
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from tfmtl.serving import RankingClient
    from tfmtl.serving.tls import channel

    requests, predict = inputs["rank"], inputs["predict"]
    client = RankingClient(servers.rank_address, tls=servers.tls)
    pstub = prediction_service_pb2_grpc.PredictionServiceStub(
        channel(servers.predict_address, servers.tls)
    )
    a, b = (client.stub.Rank(requests[k], timeout=30) for k in ("rows", "columns"))
    assert len(a.candidates) == args.candidates and [c.id for c in a.candidates] == [
        c.id for c in b.candidates
    ]
    paths = {
        "raw_keras_call": local_calls["raw_keras_call"],
        "predict_only": lambda: pstub.Predict(predict, 30),
        "rank_end_to_end": lambda: client.stub.Rank(requests["rows"], timeout=30),
        "rank_end_to_end_columns": lambda: client.stub.Rank(requests["columns"], timeout=30),
        **{name: call for name, call in local_calls.items() if name != "raw_keras_call"},
    }
    # Interleaved, so every path sees the same background load (the CPU is shared).
    times = interleaved(list(paths.values()), args.requests)
    out = {name: percentiles(t) for name, t in zip(paths, times)}
    for key in ("rank_end_to_end", "rank_end_to_end_columns"):
        out[f"p99_ratio_{key}_vs_keras_call"] = round(
            out[key]["p99_ms"] / out["raw_keras_call"]["p99_ms"], 2
        )
    out["throughput"] = throughput(servers.rank_address, servers.tls, requests["rows"], args)
    out["throughput_columns"] = throughput(
        servers.rank_address, servers.tls, requests["columns"], args
    )
    if setup == "plain":
        out["under_flood"] = under_flood(
            client, servers.predict_address, servers.rank_address, requests, predict, args
        )
    client.close()
    out["load_average_after"] = round(os.getloadavg()[0], 2)
    return out


def throughput(address: str, tls, request, args) -> dict:
    """Candidates/s with `args.clients` concurrent clients sending `request` for `args.seconds`."""
    from tfmtl.serving import RankingClient

    done, counts, errors = threading.Event(), [0] * args.clients, []
    clients = [RankingClient(address, tls=tls) for _ in range(args.clients)]
    for c in clients:  # connect (and, with TLS, handshake) before the clock starts
        c.stub.Rank(request, timeout=30)

    def worker(i):
        while not done.is_set():
            try:
                clients[i].stub.Rank(request, timeout=30)
                counts[i] += 1
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(args.seconds)
    done.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    for c in clients:
        c.close()
    requests = sum(counts)
    return {
        "clients": args.clients,
        "seconds": round(elapsed, 2),
        "requests": requests,
        "errors": len(errors),
        "requests_per_s": round(requests / elapsed, 1),
        "candidates_per_s": round(requests * args.candidates / elapsed, 1),
    }


def report(result: dict) -> None:
    print(
        f"\n[bench] seed {result['seed']}: {result['candidates']} candidates/request, PLE "
        f"({result['parameters']:,} parameters), fusion PLE eq 1 x log1p(video_len)"
    )
    print(f"  {'setup':<9} {'path':<40} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    rows = [
        ("", "raw_eager_keras_call", "raw in-process Keras call (eager)"),
        ("", "client_request_build", "client: build RankRequest (rows)"),
        ("", "client_request_build_columns", "client: build RankRequest (columns)"),
    ]
    for setup in result["setups"]:
        rows += [
            (setup, "raw_keras_call", "raw in-process Keras call (tf.function)"),
            (setup, "raw_signature_call", "raw in-process serving signature"),
            (setup, "predict_only", "Predict via PredictionService"),
            (setup, "rank_end_to_end", "Rank end to end, candidates"),
            (setup, "rank_end_to_end_columns", "Rank end to end, candidate_columns"),
        ]
    for setup, key, label in rows:
        r = result["setups"][setup].get(key) if setup else result[key]
        if r:
            print(
                f"  {setup:<9} {label:<40} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
                f"{r['mean_ms']:>8.2f}"
            )
    for setup, m in result["setups"].items():
        for key, label in [
            ("rank_end_to_end", "candidates"),
            ("rank_end_to_end_columns", "candidate_columns"),
        ]:
            print(
                f"  {setup:<9} p99 Rank ({label}) / p99 raw Keras call: "
                f"{m[f'p99_ratio_{key}_vs_keras_call']}x (goal <= 1.5x)"
            )
        for key, label in [
            ("throughput", "candidates"),
            ("throughput_columns", "candidate_columns"),
        ]:
            t = m[key]
            print(
                f"  {setup:<9} throughput ({label}), {t['clients']} clients for {t['seconds']} s: "
                f"{t['requests_per_s']} requests/s = {t['candidates_per_s']:,.0f} candidates/s "
                f"({t['errors']} errors; goal >= 100,000)"
            )
        if "under_flood" in m:
            f = m["under_flood"]
            print(
                f"  {setup:<9} Rank p99 idle {f['idle']['p99_ms']:.2f} ms, under a flood of "
                f"{f['attackers']} attackers {f['flooded']['p99_ms']:.2f} ms = {f['p99_ratio']}x "
                "(goal <= 5x); "
                f"attackers' answers {f['attack_answers']}"
            )
    print(flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--setups", nargs="+", choices=SETUPS, default=list(SETUPS))
    p.add_argument(
        "--epochs", type=int, default=0, help="training epochs (latency does not depend on them)"
    )
    p.add_argument("--rows", type=int, default=4000)
    p.add_argument("--candidates", type=int, default=500)
    p.add_argument(
        "--max_candidates",
        type=int,
        default=5000,
        help="rank-server's --max_candidates (its default)",
    )
    p.add_argument(
        "--requests", type=int, default=200, help="sequential requests per latency measurement"
    )
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seconds", type=float, default=15.0, help="throughput measurement length")
    p.add_argument("--quick", action="store_true", help="50 requests, 5 s of throughput")
    p.add_argument("--output", default=None, help="write the results as JSON here")
    args = p.parse_args(argv)
    if args.quick:
        args.requests, args.seconds = 50, 5.0
    print(
        f"[bench] {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}; "
        f"{len(args.seeds)} seed(s)",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="tfmtl-bench-") as tmp:
        results = []
        for seed in args.seeds:
            results.append(run_seed(seed, args, Path(tmp)))
            report(results[-1])
    if args.output:
        Path(args.output).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
