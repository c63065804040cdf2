"""Building the Predict batch: broadcast context, rows and columns, sequences, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.serving import ServingError, rank_request
from tfmtl.serving.batch import build_batch
from tfmtl.serving.model_info import ModelInfo
from tfmtl.serving.tensors import to_ndarray

INFO = ModelInfo(
    "m",
    3,
    "serving_default",
    inputs={
        "age": (np.dtype(np.float32), ()),
        "city": (np.dtype(object), ()),
        "item": (np.dtype(np.int64), ()),
        "history": (np.dtype(np.int64), (3,)),
        "tags": (np.dtype(object), (2,)),
    },
    outputs=["ctr"],
    metadata={"tasks": [{"name": "ctr", "kind": "binary"}]},
)
CONTEXT = {"age": 31, "city": "paris", "history": [7, 8, 0]}
ROWS = {"a": {"item": 11, "tags": ["x", "y"]}, "b": {"item": 12, "tags": ["z", "pad"]}}


def decoded(batch) -> dict:
    """Each input as TensorFlow itself decodes it (tf.make_ndarray), next to our decoder."""
    out = {}
    for k, proto in batch.inputs.items():
        ours, theirs = to_ndarray(proto, k), tf.make_ndarray(proto)
        np.testing.assert_array_equal(ours, theirs)
        out[k] = theirs
    return out


def test_context_broadcast_rows_and_sequences():
    batch = build_batch(INFO, rank_request("m", CONTEXT, ROWS))
    x = decoded(batch)
    assert batch.ids == ["a", "b"]
    np.testing.assert_array_equal(x["age"], [31.0, 31.0])  # an int64 value feeds a float input
    assert x["age"].dtype == np.float32 and list(x["city"]) == [b"paris", b"paris"]
    np.testing.assert_array_equal(x["history"], [[7, 8, 0], [7, 8, 0]])
    np.testing.assert_array_equal(x["item"], [11, 12])
    assert x["tags"].tolist() == [[b"x", b"y"], [b"z", b"pad"]]
    assert tf.make_ndarray(batch.inputs["age"]).shape == (2,)  # one value per row, as claimed


def test_columns_equal_rows():
    columns = {"item": np.array([11, 12]), "tags": np.array([["x", "y"], ["z", "pad"]])}
    rows, cols = (
        decoded(build_batch(INFO, rank_request("m", CONTEXT, ROWS))),
        decoded(build_batch(INFO, rank_request("m", CONTEXT, columns=columns, ids=["a", "b"]))),
    )
    for k in rows:
        np.testing.assert_array_equal(rows[k], cols[k])


def test_length_feature_read_from_candidates_without_being_an_input():
    rows = {cid: {**f, "video_len": float(i + 1) * 10} for i, (cid, f) in enumerate(ROWS.items())}
    batch = build_batch(INFO, rank_request("m", CONTEXT, rows), extra=["video_len"])
    np.testing.assert_array_equal(batch.raw["video_len"], [10.0, 20.0])
    assert "video_len" not in batch.inputs


@pytest.mark.parametrize(
    "context,rows,words",
    [
        (
            {**CONTEXT, "history": [1, 2]},
            ROWS,
            ["context_features['history']", "2 values", "expects 3"],
        ),
        ({**CONTEXT, "age": "old"}, ROWS, ["context_features['age']", "string_value"]),
        (
            CONTEXT,
            {"a": {"item": 1.5, "tags": ["x", "y"]}},
            ["candidates[0] ('a') feature 'item'", "float_value", "int64"],
        ),
        (
            CONTEXT,
            {"a": {"item": 1, "tags": "x"}},
            ["candidates[0] ('a') feature 'tags'", "a sequence of 2 string"],
        ),
        ({k: v for k, v in CONTEXT.items() if k != "city"}, ROWS, ["Feature 'city'", "missing"]),
    ],
)
def test_errors_name_the_feature(context, rows, words):
    with pytest.raises(ServingError) as e:
        build_batch(INFO, rank_request("m", context, rows))
    for word in words:
        assert word in e.value.message, (word, e.value.message)


def test_sequence_column_of_the_wrong_length():
    columns = {"item": np.array([11, 12]), "tags": np.array(["x", "y", "z"])}
    with pytest.raises(
        ServingError,
        match=r"candidate_columns.features\['tags'\] has 3 values .* \(2 per candidate\)",
    ):
        build_batch(INFO, rank_request("m", CONTEXT, columns=columns, ids=["a", "b"]))
