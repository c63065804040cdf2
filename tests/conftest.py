"""Shared test set-up: quiet TensorFlow, and the shared data folder as TFMTL_DATA_DIR."""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault(
    "TFMTL_DATA_DIR", str(Path(__file__).resolve().parents[1].parent / "shared" / "data")
)
