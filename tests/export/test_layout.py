"""Versions, atomicity and bad input: each a clear error, nothing left behind."""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest

from tests.export.conftest import tiny_model
from tfmtl.export import (
    ExportError,
    export_saved_model,
    list_versions,
    read_metadata,
    resolve_version_dir,
)
from tfmtl.export import saved_model as saved_model_module


@pytest.fixture(scope="module")
def model(tiny_data):
    return tiny_model("shared_bottom", tiny_data)


def tree(path) -> list[str]:
    """Every path under `path` (relative), so 'nothing left behind' is one comparison."""
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def test_versions_default_to_next_integer_and_are_never_overwritten(model, tmp_path):
    base = tmp_path / "models"
    assert export_saved_model(model, base, "ranker") == base / "ranker" / "1"
    assert export_saved_model(model, base, "ranker", version=7) == base / "ranker" / "7"
    (base / "ranker" / "notes").mkdir()  # non-integer directories are not versions
    assert export_saved_model(model, base, "ranker") == base / "ranker" / "8"
    assert list_versions(base / "ranker") == [1, 7, 8]
    assert resolve_version_dir(base / "ranker") == base / "ranker" / "8"
    assert read_metadata(base / "ranker" / "7")["model"]["version"] == 7
    before = tree(base)
    stamp = (base / "ranker" / "7" / "saved_model.pb").stat().st_mtime_ns
    with pytest.raises(
        ExportError, match=r"Version 7 of 'ranker' already exists .* Omit version= to get version 9"
    ):
        export_saved_model(model, base, "ranker", version=7)
    assert tree(base) == before
    assert (base / "ranker" / "7" / "saved_model.pb").stat().st_mtime_ns == stamp
    assert not [p for p in (base / "ranker").iterdir() if p.name.startswith(".tmp")]


def test_failure_mid_export_leaves_no_version_directory(model, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(saved_model_module, "write_warmup", broken)
    with pytest.raises(RuntimeError, match="simulated"):
        export_saved_model(model, tmp_path / "fresh", "ranker")
    assert not (tmp_path / "fresh").exists()  # the base it created is gone too

    (tmp_path / "kept" / "ranker" / "1").mkdir(parents=True)
    with pytest.raises(RuntimeError, match="simulated"):
        export_saved_model(model, tmp_path / "kept", "ranker")
    assert tree(tmp_path / "kept") == ["ranker", "ranker/1"]


def test_a_concurrent_export_of_the_same_version_is_not_overwritten(model, tmp_path, monkeypatch):
    real = saved_model_module.write_warmup

    def racing(version_dir, logs):
        real(version_dir, logs)
        (
            tmp_path / "ranker" / "1"
        ).mkdir()  # another exporter renames its version 1 into place first
        (tmp_path / "ranker" / "1" / "saved_model.pb").write_text("theirs")

    monkeypatch.setattr(saved_model_module, "write_warmup", racing)
    with pytest.raises(
        ExportError, match=r"Version 1 of 'ranker' appeared at .* during the export"
    ):
        export_saved_model(model, tmp_path, "ranker")
    assert tree(tmp_path) == ["ranker", "ranker/1", "ranker/1/saved_model.pb"]
    assert (tmp_path / "ranker" / "1" / "saved_model.pb").read_text() == "theirs"


def test_interrupt_mid_export_leaves_nothing(model, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(saved_model_module, "write_metadata", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_saved_model(model, tmp_path, "ranker")
    assert tree(tmp_path) == []


def test_not_a_tfmtl_model(tmp_path):
    x = keras.Input((2,), name="x")
    plain = keras.Model({"x": x}, {"ctr": keras.layers.Dense(1)(x)})
    with pytest.raises(
        ExportError,
        match=r"Cannot export a .*Functional: export needs a tfmtl.models.MultiTaskModel",
    ):
        export_saved_model(plain, tmp_path / "m", "ranker")
    with pytest.raises(ExportError, match=r"Cannot export a builtins.dict"):
        export_saved_model({"weights": 1}, tmp_path / "m", "ranker")
    (tmp_path / "weights.h5").write_bytes(b"nope")
    with pytest.raises(ExportError, match=r"weights.h5' is not a .keras file"):
        export_saved_model(tmp_path / "weights.h5", tmp_path / "m", "ranker")
    (tmp_path / "broken.keras").write_bytes(b"nope")
    with pytest.raises(ExportError, match=r"Cannot load .*broken.keras as a Keras model"):
        export_saved_model(tmp_path / "broken.keras", tmp_path / "m", "ranker")
    assert tree(tmp_path) == ["broken.keras", "weights.h5"]


def test_model_without_built_inputs(tmp_path):
    unbuilt = keras.Sequential([keras.layers.Dense(1)], name="unbuilt")
    with pytest.raises(ExportError, match=r"Model 'unbuilt' has no built inputs"):
        export_saved_model(unbuilt, tmp_path / "m", "ranker")
    assert tree(tmp_path) == []


def test_model_with_pre_encoded_inputs(tiny_data, tmp_path):
    from tfmtl.models import build_model

    encoded = build_model("shared_bottom", tiny_data.spec, tiny_data.tasks, lookup=False, units=[4])
    with pytest.raises(ExportError, match=r"Input '(city|item|tag|hist)' .* is int32.*lookup=True"):
        export_saved_model(encoded, tmp_path / "m", "ranker")
    assert tree(tmp_path) == []


def test_base_is_a_file(model, tmp_path):
    (tmp_path / "base").write_text("not a folder")
    with pytest.raises(ExportError, match=r"base='.*base' is a file, not a directory"):
        export_saved_model(model, tmp_path / "base", "ranker")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "ranker").write_text("not a folder")
    with pytest.raises(ExportError, match=r"models/ranker is a file, not a directory"):
        export_saved_model(model, tmp_path / "models", "ranker")
    assert tree(tmp_path) == ["base", "models", "models/ranker"]


def test_unwritable_base(model, tmp_path, monkeypatch):
    base = tmp_path / "readonly"
    base.mkdir()
    base.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: make the permission check see what a user would
        real = os.access
        monkeypatch.setattr(
            os,
            "access",
            lambda p, mode, **kw: False if str(p) == str(base) else real(p, mode, **kw),
        )
    try:
        with pytest.raises(
            ExportError, match=r"Cannot write under .*readonly \(permission denied\)"
        ):
            export_saved_model(model, base, "ranker")
        with pytest.raises(ExportError, match=r"Cannot write under .*readonly"):
            export_saved_model(model, base / "deeper" / "still", "ranker")
        assert tree(base) == []
    finally:
        base.chmod(0o755)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "a/b"}, r"name='a/b' is not a valid model name"),
        ({"name": "ranker", "version": 0}, r"version=0 must be a positive integer"),
        ({"name": "ranker", "version": "2"}, r"version='2' must be a positive integer"),
        (
            {"name": "ranker", "fusion": {"weights": {"ctrr": 1}}},
            r"fusion.weights names unknown task\(s\) \['ctrr'\]. Tasks: \['ctr', 'cvr', 'watch'\]",
        ),
        (
            {"name": "ranker", "fusion": {"kind": "max"}},
            r"fusion.kind must be one of \('product', 'weighted_sum'\). Received: 'max'",
        ),
        (
            {"name": "ranker", "fusion": {"length_feature": "city"}},
            r"fusion.length_feature must name a dense feature. Received: 'city'. Dense features: "
            r"\['x0'",
        ),
        ({"name": "ranker", "metrics": {"auc": object()}}, r"metrics value .* is not JSON-able"),
        (
            {"name": "ranker", "warmup_rows": {"x0": np.zeros(2)}},
            r"Feature\(s\) \[.*\] missing from the rows",
        ),
    ],
)
def test_bad_arguments_name_the_culprit(model, tmp_path, kwargs, message):
    with pytest.raises(ExportError, match=message):
        export_saved_model(model, tmp_path / "m", **kwargs)
    assert tree(tmp_path) == []


def test_fusion_overrides_and_metrics_are_recorded(model, tmp_path):
    path = export_saved_model(
        model,
        tmp_path,
        "ranker",
        fusion={
            "weights": {"cvr": 0.5},
            "length_feature": "video_len",
            "length_transform": "log1p",
        },
        metrics={
            "test": {"ctr": {"auc": np.float32(0.75), "count": np.int64(60)}},
            "loss": float("nan"),
        },
        warmup_rows=3,
    )
    meta = read_metadata(path)
    assert meta["fusion"] == {
        "kind": "product",
        "weights": {"ctr": 1.0, "cvr": 0.5, "watch": 0.0},
        "length_feature": "video_len",
        "length_transform": "log1p",
    }
    assert meta["metrics"] == {"test": {"ctr": {"auc": 0.75, "count": 60}}, "loss": None}
