import keras
import numpy as np
import pytest

from tfmtl import CategoricalFeature, DenseFeature, FeatureSpec, SequenceFeature
from tfmtl.layers import FeatureEmbedding

COLUMNS = {
    "age": np.array([20.0, 40.0, 30.0, 50.0]),
    "income": np.array([0.0, 10.0, 100.0, 1000.0]),
    "city": np.array(["paris", "rome", "paris", "oslo"]),
    "code": np.array([7, 7, 3, 9]),
}


def spec():
    return FeatureSpec(
        [
            DenseFeature("age"),
            DenseFeature("income", transform="log1p"),
            CategoricalFeature("city", embedding_dim=3),
            CategoricalFeature("code", embedding_dim=2, dtype="int64"),
        ]
    ).adapt(COLUMNS)


def test_adapt_learns_statistics_and_vocabulary_by_frequency():
    s = spec()
    assert s["age"].mean == pytest.approx(35.0) and s["age"].std == pytest.approx(
        np.std([20, 40, 30, 50])
    )
    assert s["income"].mean == pytest.approx(np.log1p(COLUMNS["income"]).mean())
    assert s["city"].vocabulary == ("paris", "oslo", "rome")
    assert s["code"].vocabulary == (7, 3, 9)
    assert s["city"].num_ids == 4


def test_config_round_trip():
    s = spec()
    assert FeatureSpec.from_config(s.to_config()) == s


def test_embedding_normalises_dense_and_looks_up_raw_values():
    s = spec()
    layer = FeatureEmbedding(s)
    inputs = {
        "age": np.array([35.0, 45.0], "float32"),
        "income": np.array([0.0, 10.0], "float32"),
        "city": np.array(["paris", "london"], dtype=object),  # london is unseen -> OOV
        "code": np.array([9, 123], "int64"),
    }
    out = np.asarray(layer(inputs))
    assert out.shape == (2, layer.output_dim) == (2, 1 + 1 + 3 + 2)
    np.testing.assert_allclose(out[:, 0], (inputs["age"] - s["age"].mean) / s["age"].std, atol=1e-6)
    np.testing.assert_allclose(
        out[:, 1], (np.log1p(inputs["income"]) - s["income"].mean) / s["income"].std, atol=1e-5
    )
    table = np.asarray(layer.tables["city"].embeddings)
    np.testing.assert_allclose(out[0, 2:5], table[1], atol=1e-6)  # paris = vocab 0 -> id 1
    np.testing.assert_allclose(out[1, 2:5], table[0], atol=1e-6)  # OOV -> id 0


def test_encode_gives_the_in_model_lookup_ids():
    s = spec()
    raw = FeatureEmbedding(s)
    ids = FeatureEmbedding(s, lookup=False)
    raw_in = {
        "age": np.array([1.0], "float32"),
        "income": np.array([2.0], "float32"),
        "city": np.array(["rome"], dtype=object),
        "code": np.array([3], "int64"),
    }
    enc = s.encode(raw_in)
    assert enc["city"].tolist() == [3] and enc["code"].tolist() == [2]
    ids.build()
    raw.build()
    ids.set_weights(raw.get_weights())
    np.testing.assert_allclose(np.asarray(raw(raw_in)), np.asarray(ids(enc)), atol=1e-6)


def test_nan_in_dense_feature_names_feature_and_row():
    cols = dict(COLUMNS, age=np.array([20.0, 40.0, np.nan, 50.0]))
    with pytest.raises(
        ValueError, match=r"Feature 'age' in row 1,204 of census.gz is nan.*missing=\"mean\""
    ):
        spec_ = FeatureSpec([DenseFeature("age")])
        spec_.adapt(cols, source="census.gz", row_numbers=np.array([0, 1, 1204, 3]))


def test_missing_mean_fills_nan_with_the_training_mean():
    s = FeatureSpec([DenseFeature("age", missing="mean")]).adapt(
        {"age": np.array([1.0, np.nan, 3.0])}
    )
    assert s["age"].mean == pytest.approx(2.0)
    out = np.asarray(FeatureEmbedding(s)({"age": np.array([np.nan], "float32")}))
    np.testing.assert_allclose(out, [[0.0]], atol=1e-6)


def test_duplicate_and_missing_features_are_named():
    with pytest.raises(ValueError, match=r"Duplicate feature name\(s\) \['age'\]"):
        FeatureSpec([DenseFeature("age"), CategoricalFeature("age")])
    with pytest.raises(ValueError, match=r"Feature\(s\) \['city'\] missing from train.csv"):
        FeatureSpec([CategoricalFeature("city")]).adapt({"age": np.ones(2)}, source="train.csv")
    with pytest.raises(ValueError, match="transform must be one of"):
        DenseFeature("x", transform="sqrt")
    with pytest.raises(ValueError, match="shares with unknown feature 'item'"):
        FeatureSpec([SequenceFeature("clicks", max_len=4, share_with="item")])


def test_inputs_are_raw_typed():
    inputs = spec().inputs()
    assert {k: v.dtype for k, v in inputs.items()} == {
        "age": "float32",
        "income": "float32",
        "city": "string",
        "code": "int64",
    }
    assert {k: v.dtype for k, v in spec().inputs(lookup=False).items()}["city"] == "int32"


def test_dense_buckets_embed_the_training_quantile_bucket():
    values = np.arange(100.0)
    s = FeatureSpec([DenseFeature("x", num_buckets=4, embedding_dim=2)]).adapt({"x": values})
    np.testing.assert_allclose(s["x"].boundaries, np.quantile(values, [0.25, 0.5, 0.75]))
    layer = FeatureEmbedding(s)
    x = np.array([3.0, 60.0, 99.0], "float32")
    out = np.asarray(layer({"x": x}))
    assert out.shape == (3, 3) == (3, layer.output_dim)
    table = np.asarray(layer.tables["x"].embeddings)
    np.testing.assert_allclose(out[:, 1:], table[np.digitize(x, s["x"].boundaries)], atol=1e-6)
    assert FeatureSpec.from_config(s.to_config()) == s


def test_quantile_edges_keep_a_spike_and_spread_the_rest():
    values = np.concatenate([np.zeros(900), np.arange(1.0, 101.0)])  # 90% zeros, like capital gains
    nonzero = np.quantile(np.arange(1.0, 101.0), [0, 0.25, 0.5, 0.75, 1])
    s = FeatureSpec([DenseFeature("x", num_buckets=4, encoding="piecewise_linear")]).adapt(
        {"x": values}
    )
    np.testing.assert_allclose(s["x"].boundaries, [0.0, *nonzero])
    s = FeatureSpec([DenseFeature("x", num_buckets=4)]).adapt({"x": values})
    np.testing.assert_allclose(
        s["x"].boundaries, nonzero[:-1]
    )  # zeros alone in bucket 0; no cut at the max
    binary = FeatureSpec([DenseFeature("b", num_buckets=4)]).adapt({"b": np.array([0.0, 1.0] * 50)})
    assert binary["b"].boundaries == (1.0,)
    assert DenseFeature("y", num_buckets=4).encoding == "bucket"
    with pytest.raises(ValueError, match="'y': encoding must be one of"):
        DenseFeature("y", encoding="spline")


def test_piecewise_linear_encoding_matches_the_paper_formula():
    s = FeatureSpec(
        [DenseFeature("x", num_buckets=3, embedding_dim=2, encoding="piecewise_linear")]
    )
    s = s.adapt({"x": np.arange(31.0)})  # edges 0, 10, 20, 30
    layer = FeatureEmbedding(s)
    x = np.array([-5.0, 0.0, 4.0, 10.0, 25.0, 40.0], "float32")
    out = np.asarray(layer({"x": x}))
    assert out.shape == (6, 3) == (6, layer.output_dim)
    edges = np.asarray(s["x"].boundaries)
    expected = np.empty((6, 3))
    for t in range(3):  # Gorishniy et al. 2022 eq 1, by cases
        frac = (x - edges[t]) / (edges[t + 1] - edges[t])
        below, above = (x < edges[t]) & (t > 0), (x >= edges[t + 1]) & (t < 2)
        expected[:, t] = np.where(below, 0.0, np.where(above, 1.0, frac))
    np.testing.assert_allclose(expected[:, 0], [-0.5, 0, 0.4, 1, 1, 1])
    linear = layer.piecewise["x"]
    kernel, bias = (np.asarray(w) for w in linear.weights)
    np.testing.assert_allclose(out[:, 1:], expected @ kernel + bias, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[:, 0], (x - s["x"].mean) / s["x"].std, rtol=1e-5)


def test_piecewise_linear_model_round_trips_through_keras_file(tmp_path):
    s = FeatureSpec([DenseFeature("x", num_buckets=4, encoding="piecewise_linear")]).adapt(
        {"x": np.arange(50.0)}
    )
    inputs = s.inputs()
    model = keras.Model(inputs, FeatureEmbedding(s)(inputs))
    x = {"x": np.array([1.0, 17.5, 70.0], "float32")}
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
