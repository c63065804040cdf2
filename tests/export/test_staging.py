"""Staging folders left by killed exports are removed by the next export and by server start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tfmtl.export import staging
from tfmtl.export.layout import version_dir

KILLED_EXPORT = """
import sys, time
from tfmtl.export.layout import version_dir
with version_dir(sys.argv[1], "ranker", 5) as (tmp, final):
    (tmp / "saved_model.pb").write_bytes(b"half")
    print(tmp, flush=True)
    time.sleep(60)
"""


def killed_export(base) -> str:
    """Start an export in its own process, SIGKILL it while it writes; return its staging folder."""
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_EXPORT, str(base)], stdout=subprocess.PIPE, text=True
    )
    tmp = process.stdout.readline().strip()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    return tmp


def aged(path, seconds: float) -> None:
    then = time.time() - seconds
    for p in (path, *path.iterdir()):
        os.utime(p, (then, then))


def test_a_killed_exports_folder_is_removed_by_the_next_export(tmp_path):
    tmp = killed_export(tmp_path)
    assert os.path.isdir(tmp) and os.path.basename(tmp).startswith(".tmp-5-")
    with version_dir(tmp_path, "ranker", 6) as (mine, final):
        assert not os.path.exists(tmp)  # dead owner on this host: stale at once
        (mine / "saved_model.pb").write_bytes(b"pb")
    assert sorted(p.name for p in (tmp_path / "ranker").iterdir()) == ["6"]
    assert sorted(p.name for p in final.iterdir()) == [
        "saved_model.pb"
    ]  # no owner note in a version


def test_live_owners_are_kept_and_foreign_or_unowned_ones_only_when_old(tmp_path):
    model_dir = tmp_path / "ranker"
    model_dir.mkdir()
    live = staging.make(model_dir, 1)
    aged(live, 30 * 24 * 3600)  # old, but its owner (this process) runs: never removed
    foreign = staging.make(model_dir, 2)
    (foreign / staging.OWNER).write_text(json.dumps({"host": "elsewhere", "pid": 1}))
    unowned = model_dir / ".tmp-3-abc"
    unowned.mkdir()
    (unowned / "variables").mkdir()
    assert staging.clean_stale(model_dir) == []
    aged(foreign, staging.MAX_AGE_SECONDS + 60)
    aged(unowned, staging.MAX_AGE_SECONDS + 60)
    assert staging.clean_stale(model_dir) == [foreign, unowned]
    assert [p.name for p in model_dir.iterdir()] == [live.name]


def test_server_start_cleans_stale_staging(tmp_path):
    from tfmtl.serving import ModelManager

    tmp = killed_export(tmp_path)
    ModelManager(tmp_path / "ranker", "ranker", poll_seconds=0).start().stop()
    assert not os.path.exists(tmp)
