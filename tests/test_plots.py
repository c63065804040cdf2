"""Plots of a trained model: valid PNGs, and heatmaps that show the expert-utilisation metric."""

import json
import sys

import numpy as np
import pytest

from tfmtl import training
from tfmtl.data import load_dataset
from tfmtl.metrics import expert_utilisation
from tfmtl.models.flat import gate_model
from tfmtl.models.registry import build

pytest.importorskip("matplotlib", reason='plots need matplotlib: pip install "tfmtl[plot]"')
from tfmtl.plots import expert_layouts, gate_weights, utilisation_matrices, write_plots  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
DATA = load_dataset("synthetic", rows=400)
X = DATA["test"].features


def _is_png(path):
    return path.is_file() and path.stat().st_size > 0 and path.read_bytes()[:8] == PNG


def test_plots_are_pngs_and_the_heatmap_shows_the_metric(tmp_path):
    model = build({"family": "mmoe", "num_experts": 3, "expert_units": [4]}, DATA.spec, DATA.tasks)
    training.compile_multitask(model)
    history = training.fit(model, DATA, epochs=1, batch_size=128, verbose=0)
    paths = write_plots(model, DATA, "test", tmp_path / "plots", history=history)
    assert [p.name for p in paths] == [
        "curves.png",
        "expert_utilisation.png",
        "gate_distributions.png",
    ]
    assert all(p.parent == tmp_path / "plots" and _is_png(p) for p in paths)
    direct = expert_utilisation(
        {k: np.asarray(v) for k, v in gate_model(model).predict(X, verbose=0).items()}
    )
    gates, experts, matrix = utilisation_matrices(
        expert_utilisation(gate_weights(model, X)), expert_layouts(model)
    )["mmoe"]
    assert gates == ["task_0", "task_1"] and experts == ["0", "1", "2"]
    np.testing.assert_allclose(
        matrix, [direct["mmoe/task_0"]["mean"], direct["mmoe/task_1"]["mean"]], atol=1e-6
    )
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-5)


def test_a_ple_is_drawn_with_its_own_weights_in_the_eq_4_layout(tmp_path):
    config = {
        "family": "ple",
        "num_task_experts": 1,
        "num_shared_experts": 1,
        "expert_units": [[4], [4]],
    }
    model = build(config, DATA.spec, DATA.tasks)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype(w.dtype) for w in model.get_weights()])
    direct = expert_utilisation(
        {k: np.asarray(v) for k, v in gate_model(model).predict(X, verbose=0).items()}
    )
    drawn = utilisation_matrices(expert_utilisation(gate_weights(model, X)), expert_layouts(model))
    assert sorted(drawn) == ["ple/level_0", "ple/level_1"]
    gates, experts, level_0 = drawn["ple/level_0"]
    assert gates == ["task_0", "task_1", "shared"] and experts == [
        "task_0/0",
        "task_1/0",
        "shared/0",
    ]
    # PLE eq 4: task k's gate weighs its own expert and the shared one; the shared gate all three.
    for row, gate, columns in (
        (0, "task_0", [0, 2]),
        (1, "task_1", [1, 2]),
        (2, "shared", [0, 1, 2]),
    ):
        np.testing.assert_allclose(
            level_0[row, columns], direct[f"ple/level_0/{gate}"]["mean"], atol=1e-6
        )
        assert np.isnan(np.delete(level_0[row], columns)).all()
    paths = write_plots(model, DATA, "test", tmp_path)
    assert [p.name for p in paths] == ["expert_utilisation.png", "gate_distributions.png"]
    assert all(_is_png(p) for p in paths)


def test_a_model_without_gates_gets_curves_only_and_says_why(tmp_path, capsys):
    model = build({"family": "shared_bottom", "units": [8]}, DATA.spec, DATA.tasks)
    history = {
        "loss": [1.0, 0.5],
        "val_loss": [1.1, 0.6],
        "task_a_loss": [0.6, 0.3],
        "val_task_a_mse": [1.0, 0.7],
        "loss_weight/task_a": [1.0, 0.9],
    }
    (tmp_path / "history.json").write_text(json.dumps(history))
    paths = write_plots(model, DATA, "test", tmp_path / "plots", history=tmp_path / "history.json")
    assert [p.name for p in paths] == ["curves.png"] and _is_png(paths[0])
    assert "has no gated switcher" in capsys.readouterr().err


def test_utilisation_matrices_refuse_a_layout_that_does_not_fit():
    util = {"cgc/task_0": {"mean": [0.5, 0.25, 0.25]}}
    with pytest.raises(
        ValueError, match=r"Gate 'cgc/task_0' has 3 weights but its layout places them in columns"
    ):
        utilisation_matrices(util, {"cgc": (["a", "b"], {"task_0": [0, 1]})})


def test_missing_matplotlib_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ValueError, match=r'pip install "tfmtl\[plot\]"'):
        write_plots(None, DATA, "test", tmp_path)
