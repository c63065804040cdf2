"""`tfmtl serve` and `tfmtl rank-server` in their own processes on loopback, for the benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]


class Servers(NamedTuple):
    """A started PredictionService and RankingService: processes, addresses, client TLS."""

    procs: list
    predict_address: str
    rank_address: str
    tls: object


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv: list[str], port: int, log: Path, tls=None) -> subprocess.Popen:
    """Run `tfmtl ARGV` in its own process; return once its port answers (over `tls` if given)."""
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


def start_servers(setup: str, base: Path, workdir: Path) -> Servers:
    """Start `tfmtl serve` and `tfmtl rank-server` for `setup` (plain, batching, tls, or
    in_process: rank-server with the model in its own process; `serve` still answers Predict)."""
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
    if setup == "in_process":
        rank = ["rank-server", "--model_base_path", str(base / "ple"), "--model_name", "ple"]
        rank += ["--port", str(rport)]
    elif setup == "batching":
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
    return Servers(procs, f"127.0.0.1:{pport}", f"127.0.0.1:{rport}", tls)


def stop(procs) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=30)
