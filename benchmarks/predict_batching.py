"""Small-Predict throughput with and without server-side batching (`--enable_batching`).

A PLE (zoo defaults) on the demo data, exported and served by `tfmtl serve` in its own process
on loopback, once plainly and once with `--enable_batching`; 16 client threads (one channel
each) send Predict requests of 1 row, then of 8 rows, for `--seconds` each (requests built
once, cycling over 64 different row sets). Measured per server and request size: requests/s,
rows/s, p50/p99 latency. Before timing, the two servers' answers to the same requests are
compared (atol 1e-6).

Goal from the batching issue: small-Predict throughput with batching >= 3x without.

    python benchmarks/predict_batching.py                  # ~1 minute
    python benchmarks/predict_batching.py --seconds 20 --batching_timeout_micros 2000
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
from serving_processes import free_port, start  # noqa: E402 - the benchmarks' shared server start

VARIANTS = 64


def build_requests(test: dict, rows: int, seed: int) -> list:
    from tensorflow_serving.apis import predict_pb2

    from tfmtl.serving.tensors import to_tensor_proto

    rng = np.random.default_rng(seed)
    requests = []
    for _ in range(VARIANTS):
        pick = rng.choice(len(test["x0"]), size=rows, replace=False)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "ple"
        request.model_spec.signature_name = "serving_default"
        for k, v in test.items():
            request.inputs[k].CopyFrom(to_tensor_proto(v[pick]))
        requests.append(request)
    return requests


def load(address: str, requests: list, rows: int, clients: int, seconds: float) -> dict:
    """`clients` threads, one channel each, sending `requests` round-robin for `seconds`."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    done, latencies, errors = threading.Event(), [[] for _ in range(clients)], []
    barrier = threading.Barrier(clients + 1)

    def worker(i):
        channel = grpc.insecure_channel(address)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        stub.Predict(requests[i % len(requests)], 30)
        barrier.wait()
        n, own = i, latencies[i]
        while not done.is_set():
            t0 = time.perf_counter()
            try:
                stub.Predict(requests[n % len(requests)], 30)
                own.append(time.perf_counter() - t0)
            except grpc.RpcError as e:
                errors.append(e.code().name)
            n += clients
        channel.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    done.set()
    elapsed = time.perf_counter() - t0
    for t in threads:
        t.join()
    ms = np.concatenate([np.asarray(x) for x in latencies]) * 1e3
    return {
        "requests": int(ms.size),
        "errors": len(errors),
        "seconds": round(elapsed, 2),
        "requests_per_s": round(ms.size / elapsed, 1),
        "rows_per_s": round(ms.size * rows / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


def same_answers(plain: str, batched: str, requests: list) -> float:
    """Largest |difference| between the two servers' outputs.

    The requests go to `batched` concurrently, so that its batcher merges them.
    """
    from concurrent import futures

    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    a = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(plain))
    b = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(batched))
    with futures.ThreadPoolExecutor(16) as pool:
        got = list(pool.map(lambda r: b.Predict(r, 30), requests))
    worst = 0.0
    for request, response in zip(requests, got):
        want = a.Predict(request, 30)
        for key in want.outputs:
            diff = tf.make_ndarray(response.outputs[key]) - tf.make_ndarray(want.outputs[key])
            worst = max(worst, float(np.max(np.abs(diff))))
    return worst


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rows", type=int, default=4000, help="demo data rows")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=10.0, help="measurement length per case")
    p.add_argument("--sizes", type=int, nargs="+", default=[1, 8], help="rows per Predict request")
    p.add_argument("--batching_max_batch_size", type=int, default=256)
    p.add_argument("--batching_timeout_micros", type=int, default=1000)
    p.add_argument("--num_batch_threads", type=int, default=2)
    p.add_argument("--output", default=None, help="write the results as JSON here")
    return p.parse_args(argv)


def start_servers(base: Path, args: argparse.Namespace, procs: list) -> dict:
    """Starts `tfmtl serve` plainly and with batching on `base/ple`; their addresses by name.

    Each started process is appended to `procs`, for the caller to stop.
    """
    batching = [
        "--enable_batching",
        "--batching_max_batch_size",
        str(args.batching_max_batch_size),
        "--batching_timeout_micros",
        str(args.batching_timeout_micros),
        "--num_batch_threads",
        str(args.num_batch_threads),
    ]
    servers = {}
    for name, extra in (("plain", []), ("batching", batching)):
        port = free_port()
        argv = [
            "serve",
            "--model_base_path",
            str(base / "ple"),
            "--model_name",
            "ple",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            *extra,
        ]
        procs.append(start(argv, port, base / f"{name}.log"))
        servers[name] = f"127.0.0.1:{port}"
    return servers


def measure(servers: dict, test: dict, args: argparse.Namespace) -> list[dict]:
    """For each request size: compares the two servers' answers, then loads each in turn."""
    results = []
    for size in args.sizes:
        requests = build_requests(test, size, args.seed + size)
        worst = same_answers(servers["plain"], servers["batching"], requests)
        print(
            f"[bench] {size}-row requests: batched answers differ from plain by at most "
            f"{worst:.2e}",
            flush=True,
        )
        for name in ("plain", "batching"):
            r = load(servers[name], requests, size, args.clients, args.seconds)
            results.append({"server": name, "rows_per_request": size, **r})
            print(f"[bench] {name:>8}, {size} row(s): {json.dumps(r)}", flush=True)
    return results


def main(argv=None) -> int:
    args = parse_args(argv)

    from tfmtl import training
    from tfmtl.data.demo import load_demo
    from tfmtl.export import export_saved_model
    from tfmtl.models.zoo import build_model

    command = "python benchmarks/predict_batching.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    print(f"[bench] {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}", flush=True)
    data = load_demo(rows=args.rows, seed=args.seed)
    training.set_seed(args.seed)
    model = build_model("ple", data.spec, data.tasks)
    with tempfile.TemporaryDirectory(prefix="tfmtl-bench-") as tmp:
        base = Path(tmp)
        version_dir = export_saved_model(model, base, "ple")
        print(
            f"[bench] PLE with {model.count_params():,} parameters exported to {version_dir}",
            flush=True,
        )
        procs = []
        try:
            servers = start_servers(base, args, procs)
            results = measure(servers, data["test"].features, args)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)
    report(results, args, command)
    if args.output:
        Path(args.output).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    return 0


def report(results: list, args, command: str) -> None:
    print(
        f"\n`{command}` ({args.clients} client threads, {args.seconds:g} s per case, "
        f"batching: max_batch_size {args.batching_max_batch_size}, "
        f"timeout {args.batching_timeout_micros} us, {args.num_batch_threads} batch threads; "
        f"{os.cpu_count()} cores)\n"
    )
    print("| rows/request | server | requests/s | rows/s | p50 ms | p99 ms | errors | speed-up |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    plain = {r["rows_per_request"]: r["requests_per_s"] for r in results if r["server"] == "plain"}
    for r in results:
        ratio = r["requests_per_s"] / plain[r["rows_per_request"]]
        print(
            f"| {r['rows_per_request']} | {r['server']} | {r['requests_per_s']:,.0f} | "
            f"{r['rows_per_s']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} | "
            f"{ratio:.2f}x |"
        )
    print("\nGoal: requests/s with batching >= 3x without, for small Predicts.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
