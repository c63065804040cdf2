"""What `tfmtl serve` and `tfmtl rank-server` share: flags, logging, and the run until Ctrl-C.

`serve_until_signal` is their one lifecycle: start the server (a bind or load error becomes a
one-line CommandError), print where it listens, wait for Ctrl-C or SIGTERM, stop it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from tfmtl.cli.errors import CommandError


def server_logging() -> None:
    """Timestamped INFO lines from the servers' loggers."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")


def version_labels(text: str) -> dict:
    """`stable=3,canary=4` -> {"stable": 3, "canary": 4}."""
    labels = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        label, _, version = pair.partition("=")
        if not label or not version.isdigit():
            raise CommandError(
                f"--version_labels entry {pair!r} is not label=version (e.g. stable=3)."
            )
        labels[label] = int(version)
    return labels


def add_metrics_port(parser) -> None:
    """`--metrics_port`: serve Prometheus `/metrics` over HTTP on the server's `--host`."""
    parser.add_argument(
        "--metrics_port",
        type=_port,
        default=None,
        help="HTTP port of Prometheus /metrics on --host (0: a free one; unset: none)",
    )


def metrics_note(server) -> str:
    """`, metrics on http://HOST:PORT/metrics` for the startup line; "" without metrics server."""
    if server.metrics_port is None:
        return ""
    return f", metrics on http://{server.host}:{server.metrics_port}/metrics"


def add_concurrency_flags(parser) -> None:
    """`--max_workers`, `--max_concurrent_requests`: what a server computes and admits at once."""
    parser.add_argument(
        "--max_workers", type=positive_int, default=16, help="requests computed at once"
    )
    parser.add_argument(
        "--max_concurrent_requests",
        type=positive_int,
        default=None,
        help="requests admitted at once, computing or queued; one more gets RESOURCE_EXHAUSTED "
        "(default 4 x --max_workers)",
    )


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return int(text)


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number > 0")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65_535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port; give 0-65535 (0: a free one)")
    return int(text)


def serve_until_signal(start, banner, errors: tuple = (OSError,)) -> int:
    """Start a server, announce it, serve until Ctrl-C or SIGTERM, then stop it.

    Args:
        start: callable. Returns the started server (a `tfmtl.serving.grpc_server.GrpcServer`).
        banner: callable. `banner(server)`: the startup line's text before the metrics note.
        errors: tuple of exception types. What `start` raises for a user's mistake (a taken
            port, a bad model), reported as a CommandError. Defaults to `(OSError,)`.

    Returns:
        The exit status, `0`.
    """
    try:
        server = start()
    except errors as e:
        raise CommandError(str(e)) from None
    print(f"[tfmtl] {banner(server)}{metrics_note(server)} (Ctrl-C stops)", flush=True)
    wait_for_signal()
    server.stop()
    return 0


def wait_for_signal() -> None:
    """Block until Ctrl-C or SIGTERM."""
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
