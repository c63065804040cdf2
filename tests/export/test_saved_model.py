"""Parity: Keras == SavedModel signature == TF1 session loader (as TF Serving runs it) == Example
signature.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.export.conftest import MACROS, batch, tiny_macro, tiny_model
from tfmtl import contract
from tfmtl.export import (
    build_metadata,
    export_saved_model,
    read_metadata,
    read_warmup,
    serialize_examples,
)
from tfmtl.models import available_models

ATOL = 1e-5


def keras_predict(model, columns: dict) -> dict:
    out = model.predict(columns, batch_size=2048, verbose=0)
    return {k: np.asarray(v, np.float32).reshape(-1) for k, v in out.items()}


def signature_predict(path, spec, batches: list[dict]) -> list[tuple[dict, dict]]:
    """(serving_default, serving_examples) outputs of `tf.saved_model.load`, per batch."""
    loaded = tf.saved_model.load(str(path))
    results = []
    for columns in batches:
        raw = loaded.signatures["serving_default"](
            **{k: tf.constant(v) for k, v in columns.items()}
        )
        examples = tf.constant(serialize_examples(spec, columns), dtype=tf.string)
        parsed = loaded.signatures["serving_examples"](examples=examples)
        results.append(
            ({k: v.numpy() for k, v in raw.items()}, {k: v.numpy() for k, v in parsed.items()})
        )
    return results


def session_predict(path, batches: list[dict]) -> list[dict]:
    """TF Serving's path: the TF1 session loader with tag `serve`, run on the signature's tensor
    names.
    """
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(path))
        sig = meta_graph.signature_def["serving_default"]
        fetch = {k: v.name for k, v in sig.outputs.items()}
        return [
            session.run(fetch, {sig.inputs[k].name: v for k, v in columns.items()})
            for columns in batches
        ]


@pytest.fixture(scope="module")
def exports(tiny_data, tmp_path_factory):
    """Zoo model name -> (model, version dir), built and exported once per module."""
    base = tmp_path_factory.mktemp("models")
    cache = {}

    def get(name):
        if name not in cache:
            model = tiny_macro(name, tiny_data) if name in MACROS else tiny_model(name, tiny_data)
            cache[name] = model, export_saved_model(model, base, name)
        return cache[name]

    return get


@pytest.mark.parametrize("name", available_models() + MACROS)
def test_every_path_gives_keras_numbers(name, exports, tiny_data):
    """Every zoo switcher (flat) and every macro structure, batches of 1 and 1,000 with unseen
    values.
    """
    model, path = exports(name)
    batches = [batch(tiny_data, rows) for rows in (1, 1000)]
    both = keras_predict(model, {k: np.concatenate([b[k] for b in batches]) for k in batches[0]})
    loaded, session = (
        signature_predict(path, model.feature_spec, batches),
        session_predict(path, batches),
    )
    assert sorted(both) == sorted(t.name for t in model.tasks)
    for i, (columns, (raw, examples), tf1) in enumerate(zip(batches, loaded, session)):
        rows = len(columns["x0"])
        for task, want in both.items():
            want = want[:1] if i == 0 else want[1:]
            assert want.shape == (rows,) and np.all(np.isfinite(want))
            for label, got in (("signature", raw), ("tf1 session", tf1), ("examples", examples)):
                assert got[task].dtype == np.float32 and got[task].shape == (rows,), (label, task)
                message = f"{name} {label} {task} rows={rows}"
                np.testing.assert_allclose(got[task], want, atol=ATOL, rtol=0, err_msg=message)


def test_unseen_values_reach_the_lookup_tables(exports, tiny_data):
    """The tables ride in the SavedModel: an unseen city scores differently from a known one, as in
    Keras.
    """
    model, path = exports("mmoe")
    columns = batch(tiny_data, 2)
    for name in ("city", "item", "tag", "hist"):
        columns[name][1] = columns[name][0]
    columns = {k: np.concatenate([v[:1], v[:1]]) for k, v in columns.items()}
    columns["city"][1] = "atlantis"
    expected = keras_predict(model, columns)
    got = session_predict(path, [columns])[0]
    assert abs(expected["ctr"][0] - expected["ctr"][1]) > 1e-4
    np.testing.assert_allclose(got["ctr"], expected["ctr"], atol=ATOL)


def test_saved_model_cli_lists_every_head(exports):
    model, path = exports("ple")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tensorflow.python.tools.saved_model_cli",
            "show",
            "--dir",
            str(path),
            "--all",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    for signature in ("serving_default", "serving_examples"):
        block = out.stdout.split(f"signature_def['{signature}']")[1].split("signature_def[")[0]
        for task in model.tasks:
            assert f"outputs['{task.name}']" in block, (signature, task.name)
        assert "Method name is: tensorflow/serving/predict" in block
    assert "inputs['examples']" in out.stdout and "inputs['city']" in out.stdout


def test_saved_model_cli_runs_the_example_signature(exports, tiny_data):
    """The `saved_model_cli run --input_examples` path (TF1 session, Example signature) gives Keras
    numbers.
    """
    model, path = exports("ple")
    columns = batch(tiny_data, 3)
    columns["age"][0] = 40.0  # saved_model_cli's JSON has no NaN
    rows = [
        {
            k: [
                v.item() if hasattr(v, "item") else v for v in np.asarray(columns[k][i]).reshape(-1)
            ]
            for k in columns
        }
        for i in range(3)
    ]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tensorflow.python.tools.saved_model_cli",
            "run",
            "--dir",
            str(path),
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_examples",
            "--input_examples",
            f"examples={json.dumps(rows)}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    expected = keras_predict(model, columns)
    for task, want in expected.items():
        shown = out.stdout.split(f"Result for output key {task}:")[1].split("]")[0].strip(" \n[")
        np.testing.assert_allclose(np.array(shown.split(), np.float32), want, atol=ATOL)


_FRESH = """
import json, sys
import numpy as np
import tensorflow as tf
columns = json.load(open(sys.argv[2]))
loaded = tf.saved_model.load(sys.argv[1])
sig = loaded.signatures["serving_default"]
args = {k: tf.constant(v, dtype=sig.structured_input_signature[1][k].dtype) for k, v in
columns.items()}
out = {k: v.numpy().tolist() for k, v in sig(**args).items()}
print(json.dumps({"out": out, "tfmtl": any(m.startswith("tfmtl") for m in sys.modules)}))
"""


def test_loads_in_a_fresh_process_with_only_tensorflow(exports, tiny_data, tmp_path):
    model, path = exports("cgc")
    columns = batch(tiny_data, 5)
    plain = {
        k: (v.tolist() if v.dtype != object else [str(x) for x in v]) for k, v in columns.items()
    }
    plain["age"] = [None if np.isnan(a) else a for a in plain["age"]]
    (tmp_path / "rows.json").write_text(json.dumps(plain).replace("null", "NaN"))
    out = subprocess.run(
        [sys.executable, "-c", _FRESH, str(path), str(tmp_path / "rows.json")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["tfmtl"] is False
    expected = keras_predict(model, columns)
    for task, want in expected.items():
        np.testing.assert_allclose(np.asarray(result["out"][task], np.float32), want, atol=ATOL)


def test_warmup_requests_parse_back_and_run(exports):
    model, path = exports("mmoe")
    logs = read_warmup(path)
    assert [log.predict_log.request.model_spec.signature_name for log in logs] == [
        "serving_default",
        "serving_default",
        "serving_examples",
    ]
    loaded = tf.saved_model.load(str(path))
    for log in logs:
        request = log.predict_log.request
        assert request.model_spec.name == "mmoe"
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        out = loaded.signatures[request.model_spec.signature_name](**inputs)
        rows = next(iter(inputs.values())).shape[0]
        assert sorted(out) == ["ctr", "cvr", "watch"]
        assert all(v.shape == (rows,) and np.all(np.isfinite(v.numpy())) for v in out.values())


def test_metadata_follows_the_contract(exports):
    model, path = exports("ple")
    meta = read_metadata(path)
    assert contract.parse_metadata(json.loads(contract.metadata_path(path).read_text())) == meta
    assert meta["format"] == 1
    assert meta["model"] == {
        "name": "ple",
        "class": "MultiTaskModel",
        "zoo": "ple",
        "version": 1,
        "family": "ple",
    }
    assert meta["tasks"] == [
        {"name": "ctr", "kind": "binary", "facets": {}, "loss_weight": 1.0},
        {"name": "cvr", "kind": "binary", "facets": {}, "loss_weight": 1.0},
        {"name": "watch", "kind": "regression", "facets": {}, "loss_weight": 1.0},
    ]
    by_name = {f["name"]: f for f in meta["features"]}
    spec = model.feature_spec
    assert by_name["city"] == {
        "name": "city",
        "kind": "categorical",
        "dtype": "string",
        "shape": [],
        "sample_values": list(spec["city"].vocabulary[:5]),
    }
    assert by_name["item"]["dtype"] == "int64" and by_name["x0"]["dtype"] == "float32"
    assert by_name["item"]["sample_values"] == [int(v) for v in spec["item"].vocabulary[:5]]
    assert by_name["tag"]["sample_values"] is None  # hashed: any value is valid
    assert by_name["hist"] == {
        "name": "hist",
        "kind": "sequence",
        "dtype": "int64",
        "shape": [3],
        "sample_values": by_name["item"]["sample_values"],
        "padding": 0,
    }
    x0 = spec["x0"]
    want = [x0.mean, x0.mean - 0.5 * x0.std, x0.mean + 0.5 * x0.std]
    assert by_name["x0"]["sample_values"][:3] == pytest.approx(
        want, rel=1e-5
    )  # around the training mean
    assert (
        min(by_name["video_len"]["sample_values"]) >= 0.0
    )  # log1p: raw values, expm1 of the normalised ones
    assert meta["fusion"] == {
        "kind": "product",
        "weights": {"ctr": 1.0, "cvr": 1.0, "watch": 0.0},
        "length_feature": None,
        "length_transform": "none",
    }
    assert meta["entire_space_task"] is None
    assert meta["facet_groups"] == {} and meta["metrics"] == {}
    assert meta["default_facet_group"] is None and meta["facet_group_required"] is False
    assert set(meta["versions"]) == {"tfmtl", "tensorflow", "keras"}


def test_facet_groups_ride_in_the_metadata(exports):
    """Hierarchical models export every leaf head plus the group -> heads map (MFH); requests must
    name a group.
    """
    model, path = exports("mfh")
    meta = read_metadata(path)
    groups = {g: list(names) for g, names in model.metadata["facet_groups"].items()}
    assert meta["facet_groups"] == groups and groups
    tasks = {t["name"]: t for t in meta["tasks"]}
    assert sorted(tasks) == ["ctr.new", "ctr.old", "cvr.new", "cvr.old"]
    assert all(name in tasks for names in groups.values() for name in names)
    assert tasks["cvr.new"]["facets"] == {"behaviour": "cvr", "group": "new"}
    assert meta["facet_group_required"] is True and meta["default_facet_group"] is None
    assert contract.group_heads(meta, "new") == ["ctr.new", "cvr.new"]


@pytest.mark.parametrize(
    "name,entire,weights",
    [
        ("esmm", "ctcvr", {"ctr": 0.0, "cvr": 0.0, "ctcvr": 1.0}),  # pCTCVR = pCTR x pCVR already
        (
            "aitm",
            "ctcvr",
            {"ctr": 0.0, "ctcvr": 1.0},
        ),  # the funnel's last step, over every impression
    ],
)
def test_funnel_models_rank_by_the_entire_space_head(exports, name, entire, weights):
    model, path = exports(name)
    meta = read_metadata(path)
    assert model.metadata["family"] == name and meta["model"]["family"] == name
    assert meta["entire_space_task"] == entire
    assert meta["fusion"]["weights"] == weights


def test_funnel_fusion_overrides_still_merge(exports):
    model, _ = exports("esmm")
    meta = build_metadata(model, "esmm", 2, fusion={"weights": {"cvr": 0.5}})
    assert meta["fusion"]["weights"] == {"ctr": 0.0, "cvr": 0.5, "ctcvr": 1.0}
