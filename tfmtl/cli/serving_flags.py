"""What the long-running servers share: logging set-up, waiting for Ctrl-C, label parsing."""

from __future__ import annotations

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
            raise CommandError(f"--version_labels entry {pair!r} is not label=version (e.g. stable=3).")
        labels[label] = int(version)
    return labels


def wait_for_signal() -> None:
    """Block until Ctrl-C or SIGTERM."""
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
