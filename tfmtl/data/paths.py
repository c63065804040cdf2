"""Where datasets live: `TFMTL_DATA_DIR` (tests and CI point it at the shared data folder)."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The data root: `explicit`, else `$TFMTL_DATA_DIR`, else `~/.cache/tfmtl/data`."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get("TFMTL_DATA_DIR")
    return Path(env) if env else Path.home() / ".cache" / "tfmtl" / "data"


def require_file(folder: Path, name: str, dataset: str) -> Path:
    """`folder/name`, or a FileNotFoundError that says which file and how to provide it."""
    path = folder / name
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{dataset}: data directory {folder} does not exist. Set TFMTL_DATA_DIR to the folder "
            f"that holds '{folder.name}/' (e.g. the shared data folder) or pass data_dir=."
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"{dataset}: file {path} is missing. TFMTL_DATA_DIR (or data_dir=) must point to the folder "
            f"holding '{folder.name}/{name}'."
        )
    return path
