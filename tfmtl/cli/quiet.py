"""Hide TensorFlow's C++ start-up lines (oneDNN, CUDA probing, CPU features) from the console.

TensorFlow 2.21 logs them through absl before `TF_CPP_MIN_LOG_LEVEL` applies, so stderr's
file descriptor goes through a filter thread that drops lines in the glog format
(`I0000 00:00:...`) and passes everything else on unchanged.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

_NOISE = re.compile(
    rb"^([IWE]\d{4} [\d:.]+\s+\d+ \S+:\d+\]|WARNING: All log messages before absl::InitializeLog"
    rb"|To enable the following instructions: .* rebuild TensorFlow)"
)
_installed = False


def quiet_tensorflow() -> None:
    """Filter fd 2 for the rest of the process (idempotent); also lowers TF's Python logging."""
    global _installed
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if _installed or not _has_fd(sys.stderr):
        return
    _installed = True
    sys.stderr.flush()
    real = os.dup(2)
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)

    def pump():
        with os.fdopen(read, "rb") as source:
            for line in source:
                if not _NOISE.match(line):
                    os.write(real, line)

    thread = threading.Thread(target=pump, name="tfmtl-stderr", daemon=True)
    thread.start()

    def restore():
        sys.stderr.flush()
        os.dup2(real, 2)  # closes the pipe's last writer, so the pump drains and ends
        thread.join(timeout=2)

    atexit.register(restore)
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _has_fd(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False
