"""tf.Example encoding: what `serving_examples` parses is what the raw signature takes."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tests.export.conftest import batch
from tfmtl.export import ExportError, parsing_spec, serialize_examples, signature_specs, synthetic_rows


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
    with pytest.raises(ExportError, match=r"Feature 'hist' has shape \(3,\); expected \('rows', 3\)"):
        serialize_examples(tiny_data.spec, {**columns, "hist": columns["hist"][:, 0]})
    with pytest.raises(ExportError, match=r"Feature 'x1' has 2 rows; the other features have 3"):
        serialize_examples(tiny_data.spec, {**columns, "x1": columns["x1"][:2]})
