"""Ranking latency and throughput: RankRequest -> RankingService -> PredictionService -> fused ranking.

A PLE (zoo defaults) on the demo data, exported and served by `tfmtl serve` and
`tfmtl rank-server` in their own processes on loopback; every request carries 500
candidates (request-level user features broadcast) and fusion on (PLE eq 1 with
f = log1p(video_len)). Each server setup is started in turn:

- `plain`: no TLS, no batching (the defaults);
- `batching`: `tfmtl serve --enable_batching` (TF Serving's batching flags);
- `tls`: TLS on both servers and on rank-server's channel to the PredictionService
  (certificates made for the run).

For each setup: p50/p99 end-to-end latency of `RankingService.Rank`, one request at a
time, interleaved with the raw in-process model call on the same 500-row batch (the Keras
model inside a `tf.function`, as `model.predict` runs it) and with Predict alone; both
request layouts (`candidates`, a map per candidate, and `candidate_columns`, one packed
list per feature); and candidates/s with 8 concurrent clients (requests built once, so the
clients measure the servers, not Python proto building). On `plain`, also: the exported
serving signature and the eager Keras call for reference, and Rank's p99 while 8 attacker
threads (in their own process) flood the PredictionService with 455-byte Predicts claiming 65,536 rows and the
ranking service with Rank requests one candidate over `--max_candidates` (both refused at
once), against its idle p99.

Goals from the serving issue: Rank p99 <= 1.5x the raw call; >= 100k candidates/s with 8
clients; Rank p99 under the flood <= 5x idle.

    python benchmarks/ranking_latency.py --quick          # ~3 minutes
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

ROOT = Path(__file__).resolve().parents[1]

USER = ("x0", "x1", "x2", "x3", "segment")
SETUPS = ("plain", "batching", "tls")
ATTACKERS = 8
FUSION = {"length_feature": "video_len", "length_transform": "log1p"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1e3
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "mean_ms": round(float(ms.mean()), 3),
        "n": int(ms.size),
    }


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


def start(argv: list[str], port: int, log: Path, tls=None) -> subprocess.Popen:
    """Run `tfmtl ARGV` in its own process; return once its port answers (over `tls` when given)."""
    import grpc

    from tfmtl.serving.tls import channel

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tfmtl.cli", *argv],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{argv[0]} exited with {proc.returncode}; see {log}:\n{log.read_text()[-2000:]}"
            )
        try:
            grpc.channel_ready_future(channel(f"127.0.0.1:{port}", tls)).result(timeout=1)
            return proc
        except grpc.FutureTimeoutError:
            pass
    proc.kill()
    raise RuntimeError(f"{argv[0]} did not start within 180 s; see {log}")


def start_servers(setup: str, base: Path, workdir: Path):
    """Start `tfmtl serve` and `tfmtl rank-server` for `setup`: (processes, predict, rank address, ChannelTls)."""
    from tfmtl.serving.tls import ChannelTls

    pport, rport = free_port(), free_port()
    serve = [
        "serve",
        "--model_base_path",
        str(base / "ple"),
        "--model_name",
        "ple",
        "--port",
        str(pport),
    ]
    rank = ["rank-server", "--prediction_service", f"127.0.0.1:{pport}", "--port", str(rport)]
    tls = None
    if setup == "batching":
        serve.append("--enable_batching")
    elif setup == "tls":
        sys.path.insert(0, str(ROOT))
        from tests.serving.certs import write_certs

        certs = write_certs(workdir / "certs")
        server = ["--tls_cert", str(certs.server_cert), "--tls_key", str(certs.server_key)]
        serve += server
        rank += [*server, "--prediction_service_tls_ca", str(certs.ca)]
        tls = ChannelTls.from_files(certs.ca)
    procs = [start(serve, pport, workdir / f"serve-{setup}.log", tls)]
    try:
        procs.append(start(rank, rport, workdir / f"rank-{setup}.log", tls))
    except BaseException:
        stop(procs)
        raise
    return procs, f"127.0.0.1:{pport}", f"127.0.0.1:{rport}", tls


def stop(procs) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=30)


def run_seed(seed: int, args, workdir: Path) -> dict:
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from tfmtl import training
    from tfmtl.data.demo import load_demo
    from tfmtl.export import export_saved_model
    from tfmtl.models.zoo import build_model
    from tfmtl.serving import rank_request
    from tfmtl.serving.tensors import to_tensor_proto

    data = load_demo(rows=args.rows, seed=seed)
    training.set_seed(seed)
    model = build_model("ple", data.spec, data.tasks)
    if args.epochs:
        training.compile_multitask(model)
        training.fit(model, data, epochs=args.epochs, batch_size=512, seed=seed, verbose=0)
    base = workdir / f"seed{seed}"
    version_dir = export_saved_model(model, base, "ple", fusion=FUSION)
    print(
        f"[bench] seed {seed}: PLE with {model.count_params():,} parameters exported to {version_dir}",
        flush=True,
    )

    test = data["test"].features
    rng = np.random.default_rng(seed)
    pick = rng.choice(
        len(test["x0"]), size=args.candidates, replace=args.candidates > len(test["x0"])
    )
    user = int(rng.integers(len(test["x0"])))
    context = {k: test[k][user] for k in USER}
    items = {f"item{i}": {k: test[k][j] for k in test if k not in USER} for i, j in enumerate(pick)}
    batch = {
        k: (np.repeat(test[k][user : user + 1], args.candidates) if k in USER else test[k][pick])
        for k in test
    }
    ids = list(items)
    columns = {k: np.stack([np.asarray(items[i][k]) for i in ids]) for k in items[ids[0]]}
    requests = {
        "rows": rank_request("ple", context, items, fusion=FUSION),
        "columns": rank_request("ple", context, columns=columns, ids=ids, fusion=FUSION),
    }
    predict = predict_pb2.PredictRequest()
    predict.model_spec.name = "ple"
    for k, v in batch.items():
        predict.inputs[k].CopyFrom(to_tensor_proto(v))

    tensors = {k: tf.constant(v) for k, v in batch.items()}
    compiled = tf.function(lambda x: model(x, training=False))
    keras_call = lambda: {k: v.numpy() for k, v in compiled(tensors).items()}  # noqa: E731
    result = {
        "seed": seed,
        "candidates": args.candidates,
        "parameters": int(model.count_params()),
        "raw_eager_keras_call": percentiles(
            timed(
                lambda: {k: v.numpy() for k, v in model(tensors, training=False).items()},
                min(args.requests, 30),
            )
        ),
        "client_request_build": percentiles(
            timed(
                lambda: rank_request("ple", context, items, fusion=FUSION),
                min(args.requests, 50),
                warmup=1,
            )
        ),
        "client_request_build_columns": percentiles(
            timed(
                lambda: rank_request("ple", context, columns=columns, ids=ids, fusion=FUSION),
                min(args.requests, 50),
                warmup=1,
            )
        ),
        "setups": {},
    }
    signature = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    for setup in args.setups:
        procs, paddress, raddress, tls = start_servers(setup, base, workdir)
        try:
            extra = (
                [lambda: {k: v.numpy() for k, v in signature(**tensors).items()}]
                if setup == "plain"
                else []
            )
            result["setups"][setup] = measure(
                setup, args, paddress, raddress, tls, requests, predict, keras_call, extra
            )
            print(
                f"[bench] seed {seed}, {setup}: {json.dumps(result['setups'][setup])}", flush=True
            )
        finally:
            stop(procs)
    return result


def measure(setup, args, paddress, raddress, tls, requests, predict, keras_call, extra) -> dict:
    """Latency (interleaved with the raw call), throughput and, on `plain`, latency under a flood."""
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from tfmtl.serving import RankingClient
    from tfmtl.serving.tls import channel

    client = RankingClient(raddress, tls=tls)
    pstub = prediction_service_pb2_grpc.PredictionServiceStub(channel(paddress, tls))
    a, b = (client.stub.Rank(requests[k], timeout=30) for k in ("rows", "columns"))
    assert len(a.candidates) == args.candidates and [c.id for c in a.candidates] == [
        c.id for c in b.candidates
    ]
    # Interleaved, so every path sees the same background load (the CPU is shared).
    times = interleaved(
        [
            keras_call,
            lambda: pstub.Predict(predict, 30),
            lambda: client.stub.Rank(requests["rows"], timeout=30),
            lambda: client.stub.Rank(requests["columns"], timeout=30),
            *extra,
        ],
        args.requests,
    )
    names = [
        "raw_keras_call",
        "predict_only",
        "rank_end_to_end",
        "rank_end_to_end_columns",
        "raw_signature_call",
    ]
    out = {name: percentiles(t) for name, t in zip(names, times)}
    for key in ("rank_end_to_end", "rank_end_to_end_columns"):
        out[f"p99_ratio_{key}_vs_keras_call"] = round(
            out[key]["p99_ms"] / out["raw_keras_call"]["p99_ms"], 2
        )
    out["throughput"] = throughput(raddress, tls, requests["rows"], args)
    out["throughput_columns"] = throughput(raddress, tls, requests["columns"], args)
    if setup == "plain":
        out["under_flood"] = under_flood(client, paddress, raddress, requests, predict, args)
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


def claimed_rows(predict, rows: int = 65_536):
    """`predict` cut to one value per input whose shapes claim `rows` rows (the cheap-overload attack)."""
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

    attack = type(predict)()
    attack.model_spec.CopyFrom(predict.model_spec)
    for name, proto in predict.inputs.items():
        small = tensor_pb2.TensorProto(
            dtype=proto.dtype,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=rows)]
            ),
        )
        field = {
            types_pb2.DT_STRING: "string_val",
            types_pb2.DT_FLOAT: "float_val",
            types_pb2.DT_DOUBLE: "double_val",
            types_pb2.DT_INT32: "int_val",
        }.get(proto.dtype, "int64_val")
        getattr(small, field).append(b"a" if field == "string_val" else 1)
        attack.inputs[name].CopyFrom(small)
    return attack


def under_flood(client, paddress, raddress, requests, predict, args) -> dict:
    """Rank p99 from one client while an attacker process floods both servers with requests they must refuse.

    The attacker runs in its own process (8 threads), as it would on its own host, so its
    Python work does not hold the measuring client's interpreter lock; it shares the cores.
    """
    import multiprocessing

    attack = claimed_rows(predict)
    oversized = type(requests["rows"])()
    oversized.CopyFrom(requests["rows"])
    while len(oversized.candidates) <= args.max_candidates:
        oversized.candidates.extend(requests["rows"].candidates)
    del oversized.candidates[args.max_candidates + 1 :]

    idle = timed(lambda: client.stub.Rank(requests["rows"], timeout=30), args.requests)
    context = multiprocessing.get_context("spawn")
    stop, answers = context.Event(), context.Queue()
    attacker = context.Process(
        target=attack_until,
        args=(
            paddress,
            raddress,
            attack.SerializeToString(),
            oversized.SerializeToString(),
            stop,
            answers,
        ),
    )
    attacker.start()
    first = answers.get(timeout=120)  # the attacker's first answers: it is up and flooding
    flooded = timed(lambda: client.stub.Rank(requests["rows"], timeout=30), args.requests, warmup=0)
    stop.set()
    codes = answers.get(timeout=60)
    attacker.join(timeout=60)
    for code, n in first.items():
        codes[code] = codes.get(code, 0) + n
    idle_p, flood_p = percentiles(idle), percentiles(flooded)
    return {
        "attackers": ATTACKERS,
        "attack_predict_bytes": attack.ByteSize(),
        "attack_answers": codes,
        "idle": idle_p,
        "flooded": flood_p,
        "p99_ratio": round(flood_p["p99_ms"] / idle_p["p99_ms"], 2),
    }


def attack_until(paddress, raddress, predict_bytes, rank_bytes, stop, answers) -> None:
    """`ATTACKERS` threads alternating claimed-rows Predicts and oversized Ranks until `stop` is set."""
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from tfmtl.serving.protos import ranking_pb2, ranking_pb2_grpc

    predict = predict_pb2.PredictRequest.FromString(predict_bytes)
    rank = ranking_pb2.RankRequest.FromString(rank_bytes)
    options = [("grpc.max_send_message_length", 256 << 20)]
    calls = [
        (
            prediction_service_pb2_grpc.PredictionServiceStub(
                grpc.insecure_channel(paddress)
            ).Predict,
            predict,
        ),
        (
            ranking_pb2_grpc.RankingServiceStub(
                grpc.insecure_channel(raddress, options=options)
            ).Rank,
            rank,
        ),
    ]
    codes, lock, started = {}, threading.Lock(), threading.Event()

    def attacker(call, request):
        while not stop.is_set():
            try:
                call(request, timeout=30)
                code = "OK"
            except grpc.RpcError as e:
                code = e.code().name
            with lock:
                codes[code] = codes.get(code, 0) + 1
                if sum(codes.values()) >= 2 * ATTACKERS and not started.is_set():
                    started.set()
                    answers.put(dict(codes))
                    codes.clear()

    threads = [
        threading.Thread(target=attacker, args=calls[i % 2], daemon=True) for i in range(ATTACKERS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    answers.put(codes)


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
                f"  {setup:<9} {label:<40} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['mean_ms']:>8.2f}"
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
                f"  {setup:<9} Rank p99 idle {f['idle']['p99_ms']:.2f} ms, under a flood of {f['attackers']} "
                f"attackers {f['flooded']['p99_ms']:.2f} ms = {f['p99_ratio']}x (goal <= 5x); "
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
        f"[bench] {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}; {len(args.seeds)} seed(s)",
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
