"""The model registry: every family resolves, builds, fits an epoch, round-trips via `.keras`."""

import dataclasses
import inspect
import subprocess
import sys

import keras
import numpy as np
import pytest

from tfmtl import training
from tfmtl.data.dataset import build_splits, split_indices
from tfmtl.data.funnel import load_funnel
from tfmtl.data.synthetic import load_synthetic
from tfmtl.facets import expand_tasks
from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec, SequenceFeature
from tfmtl.models import build_aitm, gate_model, registry, zoo
from tfmtl.models.registry import available_families, build, family_defaults, resolve
from tfmtl.tasks import Task

TINY = {
    "single_task": {"units": [8]},
    "shared_bottom": {"units": [8]},
    "omoe": {"num_experts": 2, "expert_units": [8]},
    "mmoe": {"num_experts": 2, "expert_units": [8]},
    "ml_mmoe": {"num_experts": 2, "expert_units": [[8], [8]]},
    "cgc": {"num_task_experts": 1, "num_shared_experts": 1, "expert_units": [8]},
    "ple": {"num_task_experts": 1, "num_shared_experts": 1, "expert_units": [[8], [8]]},
    "adatt": {"num_task_experts": 1, "expert_units": [[8], [8]]},
    "adatt_sp": {"num_task_experts": 1, "expert_units": [[8], [8]]},
    "cross_stitch": {"units": [8]},
    "sluice": {"units": [8, 8]},
    "asymmetric": {"units": [8]},
    "customized": {"shared_units": [8], "task_units": [8]},
    "home": {"expert_units": [8], "num_experts": [1, 1, 1], "feature_gate_rank": 2},
}
FAMILIES = {
    "flat": {"switcher": "cgc", **TINY["cgc"]},
    "hmtl": {"switcher": {"family": "mmoe", **TINY["mmoe"]}, "branch_units": [8]},
    "mfh": {"switcher": {"family": "flat", "switcher": "ple", **TINY["ple"]}, "branch_units": [8]},
    "dml": {"backbone": {"family": "mmoe", **TINY["mmoe"]}, "gkd_units": [8]},
    "dtrn": {"backbone": "shared_bottom", "trm_units": 8, "hyper_units": 8},
    "esmm": {"switcher": {"family": "mmoe", **TINY["mmoe"]}},
    "aitm": {"bottom_units": [8]},  # on the three-task funnel: steps default to ctr -> ctcvr
    "escm2": {"imputation_units": [4]},
    "stem": {"num_task_experts": 1, "num_shared_experts": 1, "expert_units": [8]},
    "pepnet": {"gate_units": 4},
}


def _without_validation(data):
    return dataclasses.replace(
        data, splits={k: v for k, v in data.splits.items() if k != "validation"}
    )


def _facet_data(n=300):
    rng = np.random.default_rng(0)
    columns = {"x": rng.normal(size=n), "group": rng.choice(["new", "old"], n).astype(object)}
    columns["click"] = (columns["x"] + rng.normal(size=n) > 0).astype(np.float64)
    columns["rating"] = 2 * columns["x"] + rng.normal(size=n)
    base = [Task("click", tower_units=(4,)), Task("rating", kind="regression", tower_units=(4,))]
    tasks = expand_tasks(base, "group", ["new", "old"], column="group")
    spec = FeatureSpec([DenseFeature("x"), CategoricalFeature("group", embedding_dim=2)])
    return build_splits(columns, spec, tasks, split_indices(n, 0), "facets")


def _sequence_data(n=300):
    rng = np.random.default_rng(0)
    liked = rng.integers(1, 20, (n, 4))
    liked[::3, 2:] = 0  # right-padded histories
    columns = {"item_id": rng.integers(1, 20, n), "x": rng.normal(size=n), "liked": liked}
    columns["ctr"] = (columns["x"] > 0).astype(np.float64)
    columns["rating"] = columns["x"] + rng.normal(size=n)
    spec = FeatureSpec(
        [
            CategoricalFeature("item_id", 4, "int64"),
            DenseFeature("x"),
            SequenceFeature("liked", 4, 4, "int64", share_with="item_id"),
        ]
    )
    tasks = [Task("ctr", tower_units=(4,)), Task("rating", kind="regression", tower_units=(4,))]
    return build_splits(columns, spec, tasks, split_indices(n, 0), "sequences")


_DATA = {}


def _data(kind: str):
    if kind not in _DATA:
        make = {
            "facets": _facet_data,
            "sequences": _sequence_data,
            "funnel": lambda: load_funnel(rows=400, seed=0),
            "synthetic": lambda: load_synthetic(rows=300, dim=4, seed=0),
        }[kind]
        _DATA[kind] = _without_validation(make())
    return _DATA[kind]


def _data_for(family: str):
    kind = {
        "hmtl": "facets",
        "mfh": "facets",
        "dtrn": "sequences",
        "esmm": "funnel",
        "aitm": "funnel",
        "escm2": "funnel",
    }
    return _data(kind.get(family, "synthetic"))


def _x(data, n=32):
    return {k: keras.ops.convert_to_tensor(v[:n]) for k, v in data["test"].features.items()}


@pytest.mark.parametrize("family", available_families())
def test_every_family_builds_fits_and_round_trips(family, tmp_path):
    config = {"family": family, **(TINY.get(family) or FAMILIES[family])}
    data = _data_for(family)
    training.set_seed(0)
    model = build(config, data.spec, data.tasks)
    names = ["ctr", "ctcvr"] if family == "aitm" else [t.name for t in data.tasks]
    assert [t.name for t in model.tasks] == names
    assert model.metadata["family"] == (family if family in registry._FAMILIES else "flat")
    assert model.metadata["model_config"] == resolve(config)
    # eager: for a few steps, tracing the train function would take most of the time
    training.compile_multitask(model, jit_compile=False, run_eagerly=True)
    history = training.fit(model, data, epochs=1, batch_size=64, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert again.metadata["model_config"] == model.metadata["model_config"]
    x = _x(data)
    want, got = model(x), again(x)
    assert sorted(want) == sorted(got) == sorted(names)
    for name in names:
        np.testing.assert_allclose(
            np.asarray(got[name]), np.asarray(want[name]), rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize("family", available_families())
def test_every_family_builds_on_ids_and_export_restores_its_lookups(family):
    """`lookup=False` (as `tfmtl train` builds on JAX and torch): the model takes
    `FeatureSpec.encode`'s ids; `load_exportable` puts the same weights in the raw-value model,
    which predicts the same from the raw columns."""
    from tfmtl.export import load_exportable

    config = {"family": family, **(TINY.get(family) or FAMILIES[family])}
    data = _data_for(family)
    training.set_seed(0)
    on_ids = build(config, data.spec, data.tasks, lookup=False)
    categorical = [f.name for f in data.spec.features if f.kind != "dense"]
    assert categorical and {str(on_ids.input[n].dtype) for n in categorical} == {"int32"}
    raw = load_exportable(on_ids)
    assert raw is not on_ids and raw.metadata["model_config"] == on_ids.metadata["model_config"]
    want, got = on_ids(_x(data.encoded())), raw(_x(data))
    for name in want:
        np.testing.assert_allclose(np.asarray(got[name]), np.asarray(want[name]), atol=1e-6)


def test_aitm_fits_on_data_with_more_tasks_than_it_predicts():
    """`fit` fed every label of the data, so AITM (ctr, ctcvr) on the funnel (ctr, cvr, ctcvr)
    failed: "y_true and y_pred have different structures". It feeds the model's tasks only."""
    data = load_funnel(rows=400, seed=0)  # with its validation split, which `fit` feeds too
    ctr, _, ctcvr = data.tasks
    model = build_aitm(data.spec, [ctr, ctcvr], bottoms=[4])
    training.compile_multitask(model, jit_compile=False, run_eagerly=True)
    history = training.fit(model, data, epochs=1, batch_size=128, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and np.isfinite(history.history["val_loss"][0])


def test_resolve_fills_nested_defaults_and_is_idempotent():
    config = resolve(
        {"family": "dml", "backbone": {"family": "flat", "switcher": "mmoe", "num_experts": 2}}
    )
    assert config == {
        "family": "dml",
        "backbone": {
            "family": "mmoe",
            "num_experts": 2,
            "expert_units": [128, 64],
            "gate": "softmax",
        },
        "variant": "dml",
        "gkd_units": [80],
        "gkd_gate_units": [],
        "tower_dropout": 0.0,
    }
    assert resolve("ple") == {"family": "ple", **zoo.default_hparams("ple")}
    assert resolve({"family": "mfh", "switcher": "ple"})["switcher"] == {
        "family": "ple",
        **zoo.default_hparams("ple"),
    }
    assert resolve({"family": "dtrn", "backbone": "ple"})["backbone"]["num_levels"] == 2
    assert (
        resolve({"family": "flat", "switcher": "cgc", "num_shared_experts": 1})["num_task_experts"]
        == 2
    )
    assert resolve({"family": "esmm"})["switcher"] is None
    for name in available_families():
        assert resolve(resolve(name)) == resolve(name) == {"family": name, **family_defaults(name)}


def test_composed_configs_build():
    synthetic, facets = _data("synthetic"), _data("facets")
    dml = build(
        {"family": "dml", "backbone": {"family": "flat", "switcher": "mmoe", "num_experts": 2}},
        synthetic.spec,
        synthetic.tasks,
    )
    assert (
        dml.metadata["family"] == "dml"
        and dml.metadata["model"] == "mmoe"
        and "dml" in dml.metadata
    )
    assert dml.metadata["hparams"] == {
        "num_experts": 2,
        "expert_units": [128, 64],
        "gate": "softmax",
    }
    mfh = build({"family": "mfh", "switcher": "ple"}, facets.spec, facets.tasks)
    assert mfh.metadata["family"] == "mfh" and mfh.metadata["switcher"] == "ple"
    assert mfh.metadata["facet_groups"] == {
        "new": ["click.new", "rating.new"],
        "old": ["click.old", "rating.old"],
    }
    assert mfh.metadata["tree"]["facet_order"] == ["behaviour", "group"]  # from the tasks' facets
    flat = build("ple", synthetic.spec, synthetic.tasks)
    assert (flat.metadata["family"], flat.metadata["model"]) == ("flat", "ple")


def test_gates_come_back_through_the_registry():
    data = _data("facets")
    model = build({"family": "mfh", **FAMILIES["mfh"]}, data.spec, data.tasks)
    gates = gate_model(model)(_x(data, 4))
    assert gates and all(
        np.allclose(np.sum(np.asarray(g), axis=-1), 1.0, atol=1e-5) for g in gates.values()
    )


@pytest.mark.parametrize(
    "config, message",
    [
        (
            {"family": "mfhh"},
            "model.family: unknown family 'mfhh'; choose one of: adatt, adatt_sp, aitm, ",
        ),
        (
            {"family": "mmoe", "num_expert": 2},
            "model.num_expert: mmoe has no hyper-parameter 'num_expert'; "
            "it takes: expert_units, gate, num_experts.",
        ),
        (
            {"family": "flat", "switcher": "mmoe", "heads": 1},
            "model.heads: mmoe has no hyper-parameter 'heads'",
        ),
        (
            {"family": "flat", "switcher": "mmoee"},
            "model.switcher: unknown switcher 'mmoee'; choose one of: adatt,",
        ),
        (
            {"family": "dml", "backbone": {"family": "flat", "switcher": "mmoe", "heads": 1}},
            "model.backbone.heads: mmoe has no hyper-parameter 'heads'; "
            "it takes: expert_units, gate, num_experts.",
        ),
        (
            {"family": "dml", "backbone": "mfh"},
            "model.backbone: dml takes a switcher or a flat model config, not 'mfh'",
        ),
        (
            {"family": "dtrn", "backbone": {"family": "hmtl"}},
            "model.backbone.family: dtrn takes a switcher or a flat",
        ),
        (
            {"family": "mfh", "switcher": {"family": "ple", "num_levels": "2"}},
            "model.switcher.num_levels: ple takes an integer for num_levels; got '2'.",
        ),
        (
            {"family": "dml", "variant": "dmll"},
            "model.variant: dml has no variant 'dmll'; choose one of: plain, ctfm,",
        ),
        (
            {"family": "dtrn", "tim": "yes"},
            "model.tim: dtrn takes true or false for tim; got 'yes'.",
        ),
        ({"num_experts": 2}, "model.family: missing; choose one of: adatt,"),
        (7, "model: expected a family name or a mapping with `family`; got 7."),
    ],
)
def test_mistakes_name_the_key_and_the_choices(config, message):
    with pytest.raises(ValueError) as e:
        resolve(config)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_task_dependent_mistakes_name_the_fix():
    synthetic, funnel = _data("synthetic"), _data("funnel")
    with pytest.raises(ValueError, match="route over the tasks' facets, and no task has any"):
        build({"family": "hmtl"}, synthetic.spec, synthetic.tasks)
    with pytest.raises(
        ValueError, match="model.steps: no task 'buy'; choose from: ctr, cvr, ctcvr"
    ):
        build({"family": "aitm", "steps": ["ctr", "buy"]}, funnel.spec, funnel.tasks)


def test_each_builder_names_only_registered_hyper_parameters():
    # Builders take the rest as **hp, filled by `resolve` from the registry's defaults; every
    # one takes `lookup`, which `build` passes.
    for name, family in registry._FAMILIES.items():
        parameters = set(inspect.signature(registry._load(family.build)).parameters)
        assert "lookup" in parameters, name
        assert parameters - {"spec", "tasks", "lookup", "hp", "hparams"} <= set(family.defaults)


def test_choices_match_the_layers_and_switchers_have_one_table():
    from tfmtl.layers.asymmetric import FUSIONS
    from tfmtl.layers.sluice import COMBINES
    from tfmtl.layers.sparse_gates import GATE_KINDS
    from tfmtl.layers.tim import INJECTIONS
    from tfmtl.losses_counterfactual import RISKS
    from tfmtl.models.dml import DML_VARIANTS

    choices = {
        (f.name, k): tuple(v)
        for f in [*registry._FAMILIES.values(), *registry._SWITCHERS.values()]
        for k, v in f.choices.items()
    }
    assert choices == {
        ("dml", "variant"): tuple(DML_VARIANTS),
        ("dtrn", "injection"): INJECTIONS,
        ("sluice", "combine"): COMBINES,
        ("asymmetric", "fusion"): FUSIONS,
        ("escm2", "risk"): RISKS,
        **{
            (name, "gate"): GATE_KINDS
            for name in ("omoe", "mmoe", "ml_mmoe", "cgc", "ple", "adatt", "adatt_sp")
        },
    }
    assert zoo.register_switcher is registry.register_switcher
    assert zoo.available_models() == registry.available_switchers() == sorted(TINY)


def test_the_registry_imports_no_keras():
    code = (
        "import sys, tfmtl.models.registry as r; r.resolve({'family': 'dtrn', 'backbone': 'ple'}); "
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
