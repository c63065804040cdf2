"""What a sub-command raises for a user's mistake, and the helpers that read its arguments."""

from __future__ import annotations

import json
from pathlib import Path


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def json_argument(text: str, flag: str):
    """`flag`'s value as JSON, inline or `@file.json`."""
    if text.startswith("@"):
        path = Path(text[1:])
        if not path.is_file():
            raise CommandError(f"{flag} file {path} does not exist.")
        text = path.read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise CommandError(f"{flag} is not valid JSON ({e}).") from None


def model_file(path, flag: str = "--model") -> Path:
    """A `model.keras` path that exists, or a run directory holding one."""
    path = Path(path)
    if path.is_dir() and (path / "model.keras").is_file():
        path = path / "model.keras"
    if not path.is_file():
        raise CommandError(
            f"{flag} {path} is not a file; expected a model.keras written by `tfmtl train`."
        )
    return path


def load_keras_model(path):
    """The tfmtl model saved at `path` (see `tfmtl.models.loading`)."""
    from tfmtl.models.loading import load_model

    return load_model(path)
