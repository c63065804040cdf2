"""Tiny PLE models on the demo data, exported to `BASE/NAME/VERSION/` as TF Serving reads them."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

MODEL = "ple"
# The ranking tests' query: request-level ("user") features; the rest are the candidates'.
RANK_CONTEXT = ("x0", "x1", "x2", "segment")
RANK_CANDIDATES = 12
SMALL_PLE = {
    "num_task_experts": 1,
    "num_shared_experts": 1,
    "expert_units": [[8], [8]],
    "num_levels": 2,
}


def demo_data(rows: int = 400):
    from tfmtl.data.demo import load_demo

    return load_demo(rows=rows)


def tiny_model(data, seed: int = 0, metadata: dict | None = None):
    """An untrained (random but fixed) small PLE: serving tests need numbers, not quality."""
    from tfmtl import training
    from tfmtl.models.zoo import build_model

    training.set_seed(seed)
    model = build_model("ple", data.spec, data.tasks, **SMALL_PLE)
    model.metadata.update(metadata or {})
    return model


def export(
    model, base: Path, name: str = MODEL, version: int | None = None, fusion: dict | None = None
) -> Path:
    """`tfmtl.export.export_saved_model` (the export <-> serving contract)."""
    from tfmtl.export import export_saved_model

    return Path(export_saved_model(model, base, name, version=version, fusion=fusion))


def copy_version(base: Path, src: int, dst: int, name: str = MODEL) -> Path:
    """A new version with the same files (written beside, then renamed in: atomic)."""
    tmp = base / name / f".tmp-{dst}"
    shutil.copytree(base / name / str(src), tmp)
    meta = tmp / "assets.extra" / "tfmtl.json"
    doc = json.loads(meta.read_text())
    doc["model"]["version"] = dst
    meta.write_text(json.dumps(doc))
    os.rename(tmp, base / name / str(dst))
    return base / name / str(dst)


def rows(data, n: int, split: str = "test", offset: int = 0) -> dict:
    """`n` raw rows of `split` as numpy columns (strings as object arrays)."""
    return {k: v[offset : offset + n] for k, v in data[split].features.items()}


def keras_predict(model, features: dict) -> dict:
    out = model.predict({k: np.asarray(v) for k, v in features.items()}, verbose=0)
    return {k: np.asarray(v, dtype=np.float32).reshape(-1) for k, v in out.items()}


def check_ranking(response, scores: dict, fused: np.ndarray, ids: list[str]):
    """`response` ranks `ids` by `fused`, echoing each head's score and request index."""
    order = np.argsort(-fused, kind="stable")
    assert [c.id for c in response.candidates] == [ids[i] for i in order]
    np.testing.assert_allclose([c.score for c in response.candidates], fused[order], rtol=1e-5)
    for c in response.candidates:
        i = ids.index(c.id)
        assert c.request_index == i
        assert sorted(c.task_scores) == sorted(scores)
        for task, values in scores.items():
            assert c.task_scores[task] == pytest.approx(values[i], abs=1e-6)
