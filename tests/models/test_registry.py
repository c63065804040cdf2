"""The model registry: every family builds from a config, fits, and round-trips through `.keras`."""

import subprocess
import sys

import keras
import numpy as np
import pytest

from tfmtl import training
from tfmtl.data.funnel import load_funnel, select_tasks
from tfmtl.data.synthetic import load_synthetic
from tfmtl.facets import expand_tasks
from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec, SequenceFeature
from tfmtl.models.registry import available_families, build, resolve
from tfmtl.tasks import Task

TINY = {
    "single_task": {"units": [8]}, "shared_bottom": {"units": [8]}, "omoe": {"num_experts": 2, "expert_units": [8]},
    "mmoe": {"num_experts": 2, "expert_units": [8]}, "ml_mmoe": {"num_experts": 2, "expert_units": [[8], [8]]},
    "cgc": {"num_task_experts": 1, "num_shared_experts": 1, "expert_units": [8]},
    "ple": {"num_task_experts": 1, "num_shared_experts": 1, "expert_units": [[8], [8]]},
    "adatt": {"num_task_experts": 1, "expert_units": [[8], [8]]}, "adatt_sp": {"num_task_experts": 1, "expert_units": [[8], [8]]},
    "cross_stitch": {"units": [8]}, "sluice": {"units": [8, 8]}, "asymmetric": {"units": [8]},
    "customized": {"shared_units": [8], "task_units": [8]},
}
FAMILIES = {
    "flat": {"switcher": "cgc", **TINY["cgc"]},
    "hmtl": {"switcher": {"family": "mmoe", **TINY["mmoe"]}, "branch_units": [8]},
    "mfh": {"switcher": {"family": "ple", **TINY["ple"]}, "branch_units": [8]},
    "dml": {"backbone": {"family": "mmoe", **TINY["mmoe"]}},
    "dtrn": {"backbone": {"family": "mmoe", **TINY["mmoe"]}, "trm_units": 8, "hyper_units": 8},
    "esmm": {},
    "aitm": {"bottom_units": [8]},
}


def _facet_data():
    rng = np.random.default_rng(0)
    n = 400
    columns = {"x": rng.normal(size=n), "group": rng.choice(["new", "old"], n).astype(object)}
    columns["click"] = (columns["x"] + rng.normal(size=n) > 0).astype(np.float64)
    columns["rating"] = columns["x"] * 2 + rng.normal(size=n)
    tasks = expand_tasks([Task("click", tower_units=(4,)), Task("rating", kind="regression", tower_units=(4,))],
                         "group", ["new", "old"], column="group")
    from tfmtl.data.dataset import build_splits, split_indices

    spec = FeatureSpec([DenseFeature("x"), CategoricalFeature("group", embedding_dim=2)])
    return build_splits(columns, spec, tasks, split_indices(n, 0), "facets")


def _sequence_data():
    rng = np.random.default_rng(0)
    n = 400
    liked = rng.integers(1, 20, (n, 4))
    liked[::3, 2:] = 0
    columns = {"item_id": rng.integers(1, 20, n), "x": rng.normal(size=n), "liked": liked}
    columns["ctr"] = (columns["x"] > 0).astype(np.float64)
    columns["rating"] = columns["x"] + rng.normal(size=n)
    from tfmtl.data.dataset import build_splits, split_indices

    spec = FeatureSpec([CategoricalFeature("item_id", 4, "int64"), DenseFeature("x"),
                        SequenceFeature("liked", 4, 4, "int64", share_with="item_id")])
    tasks = [Task("ctr", tower_units=(4,)), Task("rating", kind="regression", tower_units=(4,))]
    return build_splits(columns, spec, tasks, split_indices(n, 0), "sequences")


def _data_for(family: str):
    if family in ("hmtl", "mfh"):
        return _facet_data()
    if family == "dtrn":
        return _sequence_data()
    if family == "esmm":
        return load_funnel(rows=600, seed=0)
    if family == "aitm":
        return select_tasks(load_funnel(rows=600, seed=0), ["ctr", "ctcvr"])
    return load_synthetic(rows=400)


@pytest.mark.parametrize("family", available_families())
def test_every_family_builds_fits_and_round_trips(family, tmp_path):
    config = {"family": family, **(TINY.get(family) or FAMILIES[family])}
    data = _data_for(family)
    training.set_seed(0)
    model = build(config, data.spec, data.tasks)
    assert sorted(model.output) == sorted(t.name for t in data.tasks)
    assert model.metadata["model_config"] == resolve(config)
    assert model.metadata["family"] == (family if family in ("hmtl", "mfh", "dml", "dtrn", "esmm", "aitm") else "flat")
    training.compile_multitask(model)
    history = training.fit(model, data, epochs=1, batch_size=128, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert again.metadata["model_config"] == model.metadata["model_config"]
    x = {k: keras.ops.convert_to_tensor(v[:32]) for k, v in data["test"].features.items()}
    expected, got = model(x), again(x)
    for name in expected:
        np.testing.assert_allclose(np.asarray(got[name]), np.asarray(expected[name]), rtol=1e-5, atol=1e-6)


def test_resolve_fills_nested_defaults_and_keeps_overrides():
    config = resolve({"family": "dml", "backbone": {"family": "flat", "switcher": "mmoe", "num_experts": 2}})
    assert config == {"family": "dml", "backbone": {"family": "mmoe", "num_experts": 2, "expert_units": [128, 64]},
                      "variant": "dml", "tower_dropout": 0.0}
    assert resolve("ple")["num_levels"] == 2 and resolve({"family": "mfh", "switcher": "ple"})["switcher"]["num_levels"] == 2
    assert resolve({"family": "flat", "switcher": "cgc"})["num_shared_experts"] == 2


@pytest.mark.parametrize("config, message", [
    ({"family": "mfhh"}, "model.family: unknown family 'mfhh'; choose one of: adatt"),
    ({"family": "mmoe", "num_expert": 2}, "model.num_expert: mmoe has no hyper-parameter 'num_expert'; it takes: expert_units, num_experts"),
    ({"family": "dml", "backbone": {"family": "mmoe", "heads": 1}}, "model.backbone.heads: mmoe has no hyper-parameter"),
    ({"family": "dml", "backbone": "mfh"}, "model.backbone: dml takes a switcher"),
    ({"num_experts": 2}, "model.family: missing"),
])
def test_mistakes_name_the_key(config, message):
    with pytest.raises(ValueError) as e:
        resolve(config)
    assert message in str(e.value)


def test_facet_families_need_facets():
    data = load_synthetic(rows=200)
    with pytest.raises(ValueError, match="route over the tasks' facets, and no task has any"):
        build({"family": "hmtl"}, data.spec, data.tasks)


def test_the_registry_imports_no_keras():
    code = ("import sys, tfmtl.models.registry as r; r.resolve({'family': 'dtrn', 'backbone': 'ple'}); "
            "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
