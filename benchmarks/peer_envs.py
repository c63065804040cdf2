"""Throwaway virtualenvs for the peer libraries (DeepCTR on tf-keras, torch-rechub on torch).

They live under `<repo>/.peers/` (git-ignored) and are created on first use, exactly as
`../shared/bench/README.md` prescribes, so the peers run the versions the anchors were taken
with and never touch the project's own environment.

Example:

>>> python benchmarks/peer_envs.py          # create both if absent, print their pythons
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / ".peers"
BENCH = ROOT.parent / "shared" / "bench"

ENVS = {
    "VTF": [
        "tensorflow==2.21.0",
        "tensorflow-serving-api==2.21.0",
        "tf-keras==2.21.0",
        "deepctr==0.9.4",
    ],
    # The machine's find-links supplies torch 2.13.0+cpu; the registry default drags in CUDA.
    "VPT": ["torch==2.13.0", "torch-rechub==0.9.0"],
}


def python_of(name: str) -> Path:
    return PEERS / name / "bin" / "python"


def ensure(name: str, log=print) -> Path:
    """The peer env's python, creating the env (and installing its pins) when absent."""
    py = python_of(name)
    marker = PEERS / name / ".tfmtl-ready"
    if marker.exists():
        return py
    log(f"[peers] creating {PEERS / name} with {' '.join(ENVS[name])}")
    venv.EnvBuilder(with_pip=True, clear=True).create(PEERS / name)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *ENVS[name]], check=True)
    if name == "VPT":
        version = subprocess.run(
            [str(py), "-c", "import torch; print(torch.__version__)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if "+cpu" not in version:
            raise RuntimeError(
                f"{PEERS / name}: torch {version} is not the CPU build; remove the env and retry."
            )
    marker.write_text("ok\n")
    return py


if __name__ == "__main__":
    for env in sys.argv[1:] or list(ENVS):
        print(env, ensure(env))
