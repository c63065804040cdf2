"""A multi-process run on one machine: N `tfmtl` workers on loopback ports, for a try-out.

    python -m tfmtl.local_workers 2 train --config run.yaml --output runs/two \\
        --distribution multi_worker
    KERAS_BACKEND=jax python -m tfmtl.local_workers 2 train --config run.yaml \\
        --output runs/two --distribution jax_data_parallel

Each worker runs `python -m tfmtl.cli ARGS...` with the cluster in its environment, as each
host of a real cluster would set it (docs/distributed.md): `TF_CONFIG` for `multi_worker` and
Keras' `KERAS_DISTRIBUTION_*` variables for `jax_data_parallel` (both are set; each engine
reads its own). Worker output lines are prefixed `[w0] `, `[w1] `, ... The exit status is 0
when every worker exits 0; when one fails, the others are stopped and its status is returned.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time


def free_ports(count: int) -> list[int]:
    """`count` loopback ports free at the time of asking."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def cluster_env(addresses: list[str], index: int) -> dict:
    """The environment worker `index` of the cluster `addresses` (coordinator first) needs.

    >>> env = cluster_env(["127.0.0.1:2222", "127.0.0.1:2223"], 1)
    >>> json.loads(env["TF_CONFIG"])["task"], env["KERAS_DISTRIBUTION_PROCESS_ID"]
    ({'type': 'worker', 'index': 1}, '1')
    """
    tf_config = {"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": index}}
    return {
        "TF_CONFIG": json.dumps(tf_config),
        "KERAS_DISTRIBUTION_JOB_ADDRESSES": ",".join(addresses),
        "KERAS_DISTRIBUTION_NUM_PROCESSES": str(len(addresses)),
        "KERAS_DISTRIBUTION_PROCESS_ID": str(index),
    }


def start_workers(num_workers: int, argv: list[str], env: dict | None = None) -> list:
    """Starts the workers (`subprocess.Popen`, output piped, lines merged) and returns them."""
    if num_workers < 1:
        raise ValueError(f"local_workers needs at least 1 worker. Received: {num_workers}")
    addresses = [f"127.0.0.1:{port}" for port in free_ports(num_workers)]
    base = dict(os.environ if env is None else env)
    return [
        subprocess.Popen(
            [sys.executable, "-m", "tfmtl.cli", *argv],
            env={**base, **cluster_env(addresses, index)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for index in range(num_workers)
    ]


def wait(workers: list, out=sys.stdout, timeout: float | None = None) -> int:
    """Streams the workers' lines to `out` until all exit; the first failure stops the rest.

    Returns 0, or the status of the first worker that failed (124 on `timeout` seconds).
    """
    pumps = [
        threading.Thread(target=_pump, args=(w.stdout, f"[w{i}] ", out), daemon=True)
        for i, w in enumerate(workers)
    ]
    for pump in pumps:
        pump.start()
    deadline = None if timeout is None else time.monotonic() + timeout
    status = 0
    while None in [w.poll() for w in workers]:  # polls every worker, each time
        failed = [w.returncode for w in workers if w.returncode not in (None, 0)]
        if failed or (deadline is not None and time.monotonic() > deadline):
            status = failed[0] if failed else 124
            break
        time.sleep(0.1)
    for w in workers:
        if w.poll() is None:
            w.kill()
        w.wait()
    for pump in pumps:
        pump.join(timeout=5)
    return status or next((w.returncode for w in workers if w.returncode), 0)


def _pump(stream, prefix: str, out) -> None:
    for line in stream:
        out.write(prefix + line)
        out.flush()


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or not argv[0].isdigit() or len(argv) < 2:
        print("usage: python -m tfmtl.local_workers N TFMTL_ARGS...", file=sys.stderr)
        return 2
    return wait(start_workers(int(argv[0]), argv[1:]))


if __name__ == "__main__":
    sys.exit(main())
