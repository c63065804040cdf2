"""Staging folders: where an export is built before it is renamed into `BASE/NAME/VERSION`.

A staging folder is `BASE/NAME/.tmp-VERSION-XXXX` (a name TF Serving never takes for a
version) holding an owner note, `.tmp-owner.json`: the host and process that write it. The
note goes before the rename, so a version never carries it. A killed export leaves its
staging folder behind; `clean_stale` removes those that can no longer finish:

- owned by a process of this host that is no longer running: stale at once;
- otherwise (another host's, or one without a note) stale once untouched for `max_age`
  seconds (6 hours by default: longer than any export runs).

A folder whose owner runs on this host is never removed, however old.

Example:

>>> import tempfile
>>> model_dir = Path(tempfile.mkdtemp())
>>> tmp = make(model_dir, version=3)             # model_dir/.tmp-3-k2j9x/
>>> release(tmp); os.rename(tmp, model_dir / "3")
>>> clean_stale(model_dir)                       # after a crash: what it removed
[]
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

log = logging.getLogger("tfmtl.export")

PREFIX = ".tmp-"
OWNER = ".tmp-owner.json"
MAX_AGE_SECONDS = 6 * 3600


def make(model_dir, version: int) -> Path:
    """A new staging folder for `version` under `model_dir`, with this process's owner note."""
    tmp = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{version}-", dir=model_dir))
    (tmp / OWNER).write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
    return tmp


def release(tmp) -> None:
    """Drop the owner note: the folder is complete and about to become a version."""
    (Path(tmp) / OWNER).unlink(missing_ok=True)


def clean_stale(model_dir, max_age: float = MAX_AGE_SECONDS) -> list[Path]:
    """Remove the staging folders under `model_dir` that no running export owns; returns them."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    removed = []
    for path in sorted(model_dir.glob(f"{PREFIX}*")):
        if path.is_dir() and not path.is_symlink() and _stale(path, max_age):
            shutil.rmtree(path, ignore_errors=True)
            if not path.exists():
                log.info("Removed %s, left by an export that cannot finish.", path)
                removed.append(path)
    return removed


def _stale(path: Path, max_age: float) -> bool:
    owner = _owner(path)
    if owner is not None and owner.get("host") == socket.gethostname():
        return not _running(owner.get("pid"))
    try:
        touched = max(path.stat().st_mtime, *(p.stat().st_mtime for p in path.iterdir()))
    except OSError:
        return False
    return time.time() - touched > max_age


def _owner(path: Path) -> dict | None:
    try:
        owner = json.loads((path / OWNER).read_text())
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def _running(pid) -> bool:
    if isinstance(pid, bool) or not isinstance(pid, int) or pid < 1:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True
