"""tf.Example encoding: what `serving_examples` parses is what the raw signature takes."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tests.export.conftest import batch
from tfmtl.contract import ContractError
from tfmtl.export import (
    ExportError,
    parsing_spec,
    serialize_examples,
    signature_specs,
    synthetic_rows,
)
from tfmtl.export.examples import as_columns, example_request
from tfmtl.export.metadata import feature_entry


def test_examples_round_trip_every_feature_kind(tiny_data):
    spec = tiny_data.spec
    columns = batch(tiny_data, 7)
    parsed = tf.io.parse_example(serialize_examples(spec, columns), parsing_spec(spec))
    for name, want in columns.items():
        got = parsed[name].numpy()
        if want.dtype == object:
            assert [g.decode() for g in got.reshape(-1)] == [str(w) for w in want.reshape(-1)], name
        else:
            np.testing.assert_array_equal(got, want.astype(got.dtype), err_msg=name)
    assert parsed["hist"].shape == (7, 3) and parsed["item"].dtype == tf.int64


def test_missing_mean_feature_may_be_left_out(tiny_data):
    spec = tiny_data.spec
    columns = batch(tiny_data, 2)
    examples = serialize_examples(spec, columns)
    example = tf.train.Example.FromString(examples[0])
    del example.features.feature["age"]
    parsed = tf.io.parse_example([example.SerializeToString()], parsing_spec(spec))
    assert np.isnan(parsed["age"].numpy()[0])
    del example.features.feature["city"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="city"):
        tf.io.parse_example([example.SerializeToString()], parsing_spec(spec))


def test_signature_specs_follow_the_contract(tiny_data):
    specs = signature_specs(tiny_data.spec)
    assert specs["city"] == tf.TensorSpec([None], tf.string, name="city")
    assert specs["item"] == tf.TensorSpec([None], tf.int64, name="item")
    assert specs["x0"] == tf.TensorSpec([None], tf.float32, name="x0")
    assert specs["hist"] == tf.TensorSpec([None, 3], tf.int64, name="hist")


def test_synthetic_rows_cover_unseen_values(tiny_data):
    rows = synthetic_rows(tiny_data.spec, 4)
    assert rows["city"][-1] not in tiny_data.spec["city"].vocabulary
    assert rows["item"][-1] not in tiny_data.spec["item"].vocabulary
    assert rows["hist"].shape == (4, 3) and rows["hist"][0, -1] == 0
    assert rows["city"][0] in tiny_data.spec["city"].vocabulary


def test_bad_rows_name_the_feature(tiny_data):
    columns = batch(tiny_data, 3)
    with pytest.raises(
        ExportError, match=r"Feature 'hist' has shape \(3,\); expected \('rows', 3\)"
    ):
        serialize_examples(tiny_data.spec, {**columns, "hist": columns["hist"][:, 0]})
    with pytest.raises(ExportError, match=r"Feature 'x1' has 2 rows; the other features have 3"):
        serialize_examples(tiny_data.spec, {**columns, "x1": columns["x1"][:2]})


def _document(spec, **changes) -> dict:
    return {
        "format": 1,
        "model": {"name": "ranker", "version": 1},
        "tasks": [{"name": "ctr", "kind": "binary"}],
        "features": [feature_entry(f, spec) for f in spec],
        "fusion": {"kind": "product", "weights": {"ctr": 1.0}},
        **changes,
    }


def test_example_request_values_are_valid_for_every_feature(tiny_data):
    spec = tiny_data.spec
    body = example_request(_document(spec), candidates=6, context=["city"])
    assert body["context"]["city"] == spec["city"].vocabulary[0] and sorted(body) == [
        "candidates",
        "context",
    ]
    rows = list(body["candidates"].values())
    assert [r["item"] for r in rows] == [*spec["item"].vocabulary[:5], spec["item"].vocabulary[0]]
    assert rows[1]["hist"] == [
        *spec["item"].vocabulary[1:3],
        0,
    ]  # shares item's vocabulary, padded to max_len
    assert (
        rows[0]["x0"] == pytest.approx(spec["x0"].mean, rel=1e-5)
        and min(r["video_len"] for r in rows) >= 0
    )
    assert all(isinstance(r["tag"], str) for r in rows)  # hashed: any string
    columns = {
        name: np.array(
            [r[name] for r in rows], dtype=object if isinstance(rows[0][name], str) else None
        )
        for name in rows[0]
    }
    columns = as_columns(
        spec, {**columns, "city": np.array([body["context"]["city"]] * 6, dtype=object)}
    )
    assert (
        columns["hist"].shape == (6, 3) and columns["x0"].dtype == np.float32
    )  # shapes and dtypes the model takes


def test_example_request_from_an_older_export_uses_placeholders(tiny_data):
    old = _document(tiny_data.spec)
    for feature in old["features"]:
        del feature["sample_values"]
        feature.pop("padding", None)
    row = example_request(old, candidates=2)["candidates"]["c1"]
    assert (
        row["x0"] == 0.0
        and row["city"] == "city_1"
        and row["item"] == 2
        and row["hist"] == [2, 3, 0]
    )


def test_example_request_errors_name_the_argument(tiny_data, tmp_path):
    doc = _document(tiny_data.spec)
    with pytest.raises(ExportError, match=r"candidates must be >= 1. Received: 0"):
        example_request(doc, candidates=0)
    with pytest.raises(
        ExportError, match=r"context names unknown feature\(s\) \['user'\]. Features: \['x0'"
    ):
        example_request(doc, context=["user"])
    with pytest.raises(
        ContractError, match=r"facet_group 'new' is not a facet group of the model. Groups: \[\]"
    ):
        example_request(doc, facet_group="new")
    with pytest.raises(
        ExportError, match=r"holds neither saved_model.pb nor an integer version directory"
    ):
        example_request(tmp_path)
    with pytest.raises(ContractError, match=r"the tfmtl.json document: format is 2"):
        example_request({**doc, "format": 2})
