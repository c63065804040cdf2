"""Ranking latency and throughput: RankRequest -> RankingService -> PredictionService -> fused ranking.

A PLE (zoo defaults) on the demo data, exported and served by `tfmtl serve` and
`tfmtl rank-server` in their own processes on loopback; every request carries 500
candidates (request-level user features broadcast) and fusion on (PLE eq 1 with
f = log1p(video_len)). Measured:

- p50/p99 end-to-end latency of `RankingService.Rank`, one request at a time, against the
  raw in-process model call on the same 500-row batch (the Keras model called inside a
  `tf.function`, as `model.predict` runs it; the exported serving signature the server
  runs; and, for reference, the eager Keras call), and the PredictionService alone;
- both request layouts: `candidates` (a map per candidate) and `candidate_columns` (one
  packed list per feature);
- throughput in candidates/s with 8 concurrent clients (requests built once, so the
  clients measure the servers, not Python proto building).

Goals from the serving issue: p99 <= 2x the raw call; >= 50k candidates/s.

    python benchmarks/ranking_latency.py --quick          # ~1 minute
    python benchmarks/ranking_latency.py --requests 300 --seconds 20 --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

USER = ("x0", "x1", "x2", "x3", "segment")
FUSION = {"length_feature": "video_len", "length_transform": "log1p"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1e3
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "mean_ms": round(float(ms.mean()), 3), "n": int(ms.size)}


def timed(fn, n: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def interleaved(fns, n: int, warmup: int = 5) -> list[list[float]]:
    """Time each of `fns` n times, round-robin: one call of each per round."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    out = [[] for _ in fns]
    for _ in range(n):
        for fn, times in zip(fns, out):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return out


def start(argv: list[str], port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.Popen([sys.executable, "-m", "tfmtl.cli", *argv], stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env=env)
    import grpc

    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{argv[0]} exited with {proc.returncode}; see {log}:\n{log.read_text()[-2000:]}")
        try:
            grpc.channel_ready_future(grpc.insecure_channel(f"127.0.0.1:{port}")).result(timeout=1)
            return proc
        except grpc.FutureTimeoutError:
            pass
    proc.kill()
    raise RuntimeError(f"{argv[0]} did not start within 180 s; see {log}")


def run_seed(seed: int, args, workdir: Path) -> dict:
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from tfmtl import training
    from tfmtl.data.demo import load_demo
    from tfmtl.export import export_saved_model
    from tfmtl.models.zoo import build_model
    from tfmtl.serving import RankingClient, rank_request
    from tfmtl.serving.tensors import to_tensor_proto

    data = load_demo(rows=args.rows, seed=seed)
    training.set_seed(seed)
    model = build_model("ple", data.spec, data.tasks)
    if args.epochs:
        training.compile_multitask(model)
        training.fit(model, data, epochs=args.epochs, batch_size=512, seed=seed, verbose=0)
    base = workdir / f"seed{seed}"
    version_dir = export_saved_model(model, base, "ple", fusion=FUSION)
    print(f"[bench] seed {seed}: PLE with {model.count_params():,} parameters exported to {version_dir}", flush=True)

    test = data["test"].features
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(test["x0"]), size=args.candidates, replace=args.candidates > len(test["x0"]))
    user = int(rng.integers(len(test["x0"])))
    context = {k: test[k][user] for k in USER}
    items = {f"item{i}": {k: test[k][j] for k in test if k not in USER} for i, j in enumerate(pick)}
    batch = {k: (np.repeat(test[k][user:user + 1], args.candidates) if k in USER else test[k][pick]) for k in test}

    # Raw in-process calls on the same batch.
    tensors = {k: tf.constant(v) for k, v in batch.items()}
    compiled = tf.function(lambda x: model(x, training=False))
    eager_call = timed(lambda: {k: v.numpy() for k, v in model(tensors, training=False).items()}, min(args.requests, 30))
    signature = tf.saved_model.load(str(version_dir)).signatures["serving_default"]

    pport, rport = free_port(), free_port()
    procs = [start(["serve", "--model_base_path", str(base / "ple"), "--model_name", "ple", "--port", str(pport),
                    "--host", "127.0.0.1"], pport, workdir / f"serve{seed}.log")]
    try:
        procs.append(start(["rank-server", "--prediction_service", f"127.0.0.1:{pport}", "--port", str(rport),
                            "--host", "127.0.0.1"], rport, workdir / f"rank{seed}.log"))
        predict = predict_pb2.PredictRequest()
        predict.model_spec.name = "ple"
        for k, v in batch.items():
            predict.inputs[k].CopyFrom(to_tensor_proto(v))
        pstub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(f"127.0.0.1:{pport}"))

        ids = list(items)
        columns = {k: np.stack([np.asarray(items[i][k]) for i in ids]) for k in items[ids[0]]}
        request = rank_request("ple", context, items, fusion=FUSION)
        col_request = rank_request("ple", context, columns=columns, ids=ids, fusion=FUSION)
        build = timed(lambda: rank_request("ple", context, items, fusion=FUSION), min(args.requests, 50), warmup=1)
        col_build = timed(lambda: rank_request("ple", context, columns=columns, ids=ids, fusion=FUSION),
                          min(args.requests, 50), warmup=1)
        client = RankingClient(f"127.0.0.1:{rport}")
        a, b = client.stub.Rank(request, timeout=30), client.stub.Rank(col_request, timeout=30)
        assert len(a.candidates) == args.candidates and [c.id for c in a.candidates] == [c.id for c in b.candidates]
        # Interleaved, so every path sees the same background load (the CPU is shared).
        keras_call, signature_call, predict_only, rank_e2e, rank_cols = interleaved([
            lambda: {k: v.numpy() for k, v in compiled(tensors).items()},
            lambda: {k: v.numpy() for k, v in signature(**tensors).items()},
            lambda: pstub.Predict(predict, 30),
            lambda: client.stub.Rank(request, timeout=30),
            lambda: client.stub.Rank(col_request, timeout=30),
        ], args.requests)
        rows_tp = throughput(f"127.0.0.1:{rport}", request, args)
        cols_tp = throughput(f"127.0.0.1:{rport}", col_request, args)
        client.close()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    result = {
        "seed": seed, "candidates": args.candidates, "parameters": int(model.count_params()),
        "raw_keras_call": percentiles(keras_call), "raw_signature_call": percentiles(signature_call),
        "raw_eager_keras_call": percentiles(eager_call), "predict_only": percentiles(predict_only),
        "rank_end_to_end": percentiles(rank_e2e), "rank_end_to_end_columns": percentiles(rank_cols),
        "client_request_build": percentiles(build), "client_request_build_columns": percentiles(col_build),
        "throughput": rows_tp, "throughput_columns": cols_tp, "load_average_after": round(os.getloadavg()[0], 2),
    }
    for key in ("rank_end_to_end", "rank_end_to_end_columns"):
        result[f"p99_ratio_{key}_vs_keras_call"] = round(result[key]["p99_ms"] / result["raw_keras_call"]["p99_ms"], 2)
    return result


def throughput(address: str, request, args) -> dict:
    """Candidates/s with `args.clients` concurrent clients sending `request` for `args.seconds`."""
    from tfmtl.serving import RankingClient

    done, counts, errors = threading.Event(), [0] * args.clients, []

    def worker(i):
        c = RankingClient(address)
        while not done.is_set():
            try:
                c.stub.Rank(request, timeout=30)
                counts[i] += 1
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors.append(repr(e))
        c.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(args.seconds)
    done.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    requests = sum(counts)
    return {"clients": args.clients, "seconds": round(elapsed, 2), "requests": requests, "errors": len(errors),
            "requests_per_s": round(requests / elapsed, 1),
            "candidates_per_s": round(requests * args.candidates / elapsed, 1)}


def report(result: dict) -> None:
    print(f"\n[bench] seed {result['seed']}: {result['candidates']} candidates/request, PLE "
          f"({result['parameters']:,} parameters), fusion PLE eq 1 x log1p(video_len)")
    print(f"  {'path':<40} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for key, label in [("raw_keras_call", "raw in-process Keras call (tf.function)"),
                       ("raw_signature_call", "raw in-process serving signature"),
                       ("raw_eager_keras_call", "raw in-process Keras call (eager)"),
                       ("predict_only", "Predict via PredictionService"),
                       ("rank_end_to_end", "Rank end to end, candidates"),
                       ("rank_end_to_end_columns", "Rank end to end, candidate_columns"),
                       ("client_request_build", "client: build RankRequest (rows)"),
                       ("client_request_build_columns", "client: build RankRequest (columns)")]:
        r = result[key]
        print(f"  {label:<40} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['mean_ms']:>8.2f}")
    for key, label in [("rank_end_to_end", "candidates"), ("rank_end_to_end_columns", "candidate_columns")]:
        print(f"  p99 Rank ({label}) / p99 raw Keras call: {result[f'p99_ratio_{key}_vs_keras_call']}x (goal <= 2x)")
    for key, label in [("throughput", "candidates"), ("throughput_columns", "candidate_columns")]:
        t = result[key]
        print(f"  throughput ({label}), {t['clients']} concurrent clients for {t['seconds']} s: "
              f"{t['requests_per_s']} requests/s = {t['candidates_per_s']:,.0f} candidates/s "
              f"({t['errors']} errors; goal >= 50,000)", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=int, default=0, help="training epochs (latency does not depend on them)")
    p.add_argument("--rows", type=int, default=4000)
    p.add_argument("--candidates", type=int, default=500)
    p.add_argument("--requests", type=int, default=200, help="sequential requests per latency measurement")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seconds", type=float, default=15.0, help="throughput measurement length")
    p.add_argument("--quick", action="store_true", help="50 requests, 5 s of throughput")
    p.add_argument("--output", default=None, help="write the results as JSON here")
    args = p.parse_args(argv)
    if args.quick:
        args.requests, args.seconds = 50, 5.0
    print(f"[bench] {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}; {len(args.seeds)} seed(s)",
          flush=True)
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
