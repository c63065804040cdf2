"""The directory layout TF Serving reads: `BASE/NAME/VERSION/`, written atomically.

`tensorflow_model_server --model_base_path=BASE/NAME` serves every sub-directory whose name
is a positive integer (the latest by default). An export is built in a hidden temporary
directory beside its target (`BASE/NAME/.tmp-VERSION-...`, a name the server never takes
for a version) and renamed into place only once complete, so a failed or killed export
never leaves a directory that looks like a version; the staging folders a killed export left
are removed by the next export (`tfmtl.export.staging`).

Example:

>>> import tempfile
>>> base = Path(tempfile.mkdtemp())
>>> with version_dir(base, "ranker") as (tmp, final):
...     _ = (tmp / "saved_model.pb").write_bytes(b"")    # the export writes into tmp
>>> final.relative_to(base), list_versions(base / "ranker")
(PosixPath('ranker/1'), [1])
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

from tfmtl.export import staging

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


class ExportError(ValueError):
    """A user error in an export: bad model, bad base path, existing version..."""


def list_versions(model_dir) -> list[int]:
    """The integer version sub-directories of `BASE/NAME`, ascending (none: `[]`)."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(
        int(p.name)
        for p in model_dir.iterdir()
        if p.is_dir() and p.name.isdigit() and int(p.name) > 0
    )


def next_version(model_dir) -> int:
    """Max existing integer version + 1 (1 for none)."""
    versions = list_versions(model_dir)
    return versions[-1] + 1 if versions else 1


def resolve_version_dir(path) -> Path:
    """`BASE/NAME/VERSION` as given, or `BASE/NAME` -> its latest version directory."""
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    if not path.is_dir():
        raise ExportError(
            f"{path} is not a directory; expected BASE/NAME or BASE/NAME/VERSION of an export."
        )
    versions = list_versions(path)
    if not versions:
        raise ExportError(
            f"{path} holds neither saved_model.pb nor an integer version directory; expected "
            "BASE/NAME or "
            "BASE/NAME/VERSION of an export."
        )
    return path / str(versions[-1])


def check_target(base, name: str, version: int | None) -> tuple[Path, int]:
    """Validate `base`, `name` and `version` before any work; returns `(BASE/NAME, version)`."""
    base = Path(base)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ExportError(
            f"name={name!r} is not a valid model name: use letters, digits, '_', '.', '-' (no "
            "'/'), "
            "as it becomes the directory BASE/NAME."
        )
    if base.exists() and not base.is_dir():
        raise ExportError(
            f"base={str(base)!r} is a file, not a directory; pass the folder that holds the models."
        )
    existing = _nearest_existing(base / name)
    if existing.exists() and not existing.is_dir():
        raise ExportError(
            f"{existing} is a file, not a directory; cannot create {base / name} under it."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ExportError(
            f"Cannot write under {existing} (permission denied); choose a writable base= directory."
        )
    model_dir = base / name
    if version is None:
        version = next_version(model_dir)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ExportError(
            f"version={version!r} must be a positive integer: TF Serving only serves integer "
            "versions."
        )
    if (model_dir / str(version)).exists():
        raise ExportError(
            f"Version {version} of '{name}' already exists at {model_dir / str(version)}; exports "
            "are never "
            f"overwritten. Omit version= to get version {next_version(model_dir)}."
        )
    return model_dir, version


@contextlib.contextmanager
def version_dir(base, name: str, version: int | None = None):
    """Yield `(tmp_dir, final_dir)`; on a clean exit rename tmp -> final, else remove everything
    made.

    Directories created on the way (`BASE`, `BASE/NAME`) are removed again if the export fails.
    """
    model_dir, version = check_target(base, name, version)
    final = model_dir / str(version)
    created = _missing_parents(model_dir)
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        staging.clean_stale(model_dir)
        tmp = staging.make(model_dir, version)
    except OSError as e:
        _remove_created(created)
        raise ExportError(
            f"Cannot create {model_dir}: {e.strerror or e}; choose a writable base= directory."
        ) from e
    try:
        yield tmp, final
        staging.release(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; TF Serving may run as another user
        try:
            os.rename(tmp, final)  # atomic on one filesystem; refuses a non-empty target
        except OSError as e:
            raise ExportError(
                f"Version {version} of '{name}' appeared at {final} during the export: {e}"
            ) from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_created(created)
        raise


def directory_size(path) -> int:
    """Total bytes of the files under `path`."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _missing_parents(path: Path) -> list[Path]:
    """`path` and its ancestors that do not exist yet, deepest first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _remove_created(created: list[Path]) -> None:
    for path in created:  # deepest first; only if still empty (another export may use it)
        try:
            path.rmdir()
        except OSError:
            pass
