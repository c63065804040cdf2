"""FeatureSelect cuts named features' columns out of the embedding block."""

import numpy as np
import pytest

from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec
from tfmtl.layers import FeatureEmbedding, FeatureSelect
from tfmtl.layers.feature_select import feature_columns

ROWS = 32


def _spec(encoding: str):
    rng = np.random.default_rng(0)
    columns = {
        "age": rng.uniform(0, 90, ROWS),
        "plain": rng.normal(size=ROWS),
        "city": rng.choice(["a", "b", "c"], ROWS).astype(object),
    }
    spec = FeatureSpec(
        [
            DenseFeature("age", num_buckets=4, embedding_dim=3, encoding=encoding),
            DenseFeature("plain"),
            CategoricalFeature("city", embedding_dim=5),
        ]
    )
    return spec.adapt(columns), columns


@pytest.mark.parametrize("encoding", ["bucket", "piecewise_linear"])
def test_columns_follow_the_block_with_embedded_dense_features(encoding):
    """An embedded dense feature takes 1 + embedding_dim columns, so the features after it
    start later; the spans tile the block exactly."""
    spec, columns = _spec(encoding)
    spans = feature_columns(spec)
    assert spans == {"age": (0, 4), "plain": (4, 5), "city": (5, 10)}
    block = FeatureEmbedding(spec)
    x = np.asarray(block({k: np.asarray(v) for k, v in columns.items()}))
    assert x.shape == (ROWS, block.output_dim) == (ROWS, 10)
    city = np.asarray(FeatureSelect(spec, ["city"])(x))
    table = np.asarray(block.tables["city"].embeddings)
    ids = np.asarray(block.ids("city", np.asarray(columns["city"]).astype(str)))
    np.testing.assert_allclose(city, table[ids], atol=1e-6)  # the city embedding, nothing else
    np.testing.assert_allclose(np.asarray(FeatureSelect(spec, ["plain"])(x)), x[:, 4:5])


def test_unknown_feature_is_named():
    spec, _ = _spec("bucket")
    with pytest.raises(ValueError, match=r"feature\(s\) \['town'\] are not in the embedding"):
        FeatureSelect(spec, ["town"])
