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


# How a Python caller points a loader at the data root; the CLI names its own flag and key.
LOADER_SETTING = "the loader's `data_dir_` argument"


class MissingDataError(FileNotFoundError):
    """A dataset's folder or file that is not there: what is missing, and where the data goes.

    Args:
        problem: str. What is missing, naming the dataset and the path.
        need: str. What the data root must hold (`"the folder that holds 'census/'"`).
    """

    def __init__(self, problem: str, need: str):
        self.problem, self.need = problem, need
        super().__init__(self.message(LOADER_SETTING))

    def message(self, setting: str) -> str:
        """The error's text, naming `setting` as the other way to give the data root."""
        return f"{self.problem} Set TFMTL_DATA_DIR (or {setting}) to {self.need}."


def require_file(folder: Path, name: str, dataset: str) -> Path:
    """`folder/name`, or a `MissingDataError` that says which file and how to provide it."""
    path = folder / name
    if not folder.is_dir():
        raise MissingDataError(
            f"{dataset}: data directory {folder} does not exist.",
            f"the folder that holds '{folder.name}/' (e.g. the shared data folder)",
        )
    if not path.is_file():
        raise MissingDataError(
            f"{dataset}: file {path} is missing.", f"the folder holding '{folder.name}/{name}'"
        )
    return path
