"""The whole repository passes `ruff check` and `ruff format --check` (STYLE.md section 4).

The rules live in pyproject.toml ([tool.ruff]: line length 100, lint E, F, I); ruff is
pinned in setup.py's `test` extra, because its rules and formatter output change between
releases.
"""

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# The version pinned in setup.py's `test` extra.
RUFF_VERSION = "0.17.6"
TIMEOUT_S = 300


def _run_ruff(*args: str) -> subprocess.CompletedProcess:
    """Runs `python -m ruff ARGS` in the repository root and returns the finished process."""
    command = [sys.executable, "-m", "ruff", *args]
    try:
        return subprocess.run(
            command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(command[1:])}` did not finish in {TIMEOUT_S}s in {REPO_ROOT}.")


def _check_ruff_version() -> None:
    """Fails unless the pinned ruff is installed: other versions lint and format differently."""
    version = _run_ruff("--version")
    if version.returncode != 0:
        pytest.fail(
            f"ruff is not installed for {sys.executable}: {version.stderr.strip()}. "
            f"Install the test extra (`pip install -e .[test]`) or `pip install "
            f"ruff=={RUFF_VERSION}`."
        )
    installed = version.stdout.split()[-1]
    if installed != RUFF_VERSION:
        pytest.fail(
            f"tests/test_style.py needs ruff {RUFF_VERSION}, the version pinned in setup.py, "
            f"but ruff {installed} is installed. Run `pip install ruff=={RUFF_VERSION}`."
        )


def test_ruff_check_passes():
    _check_ruff_version()
    result = _run_ruff("check", "--no-cache", "--output-format=concise", ".")
    exit_code = result.returncode
    assert exit_code == 0, (
        f"`ruff check .` found lint errors (exit code {exit_code}); fix each line "
        f"below (E501: rewrap the string, comment or docstring):\n{result.stdout}{result.stderr}"
    )


def test_ruff_format_check_passes():
    _check_ruff_version()
    result = _run_ruff("format", "--check", "--no-cache", ".")
    exit_code = result.returncode
    assert exit_code == 0, (
        f"`ruff format --check .` would reformat files (exit code {exit_code}); run "
        f"`ruff format FILE` on each file below:\n{result.stdout}{result.stderr}"
    )
