"""load_csv on a written file: types per feature kind, missing labels, splits, and named errors."""

import numpy as np
import pytest

from tfmtl import Task
from tfmtl.data import load_csv
from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec

SPEC = FeatureSpec(
    [DenseFeature("price"), CategoricalFeature("shop", dtype="int64"), CategoricalFeature("city")]
)


def _write(path, rows):
    path.write_text(
        "price,shop,city,click,unused\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    )
    return path


def test_types_labels_and_vocabulary(tmp_path):
    rows = [
        (i * 1.5, 10 + i % 3, "paris" if i % 4 else "rome", "" if i == 5 else i % 2, "z")
        for i in range(40)
    ]
    data = load_csv(
        _write(tmp_path / "shop.csv", rows), SPEC, [Task("click", label="click")], seed=1
    )
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 32, "validation": 4, "test": 4}
    train = data["train"]
    assert train.features["price"].dtype == np.float32 and train.features["shop"].dtype == np.int64
    assert set(data.spec["shop"].vocabulary) == set(train.features["shop"].tolist()) <= {10, 11, 12}
    assert data.spec["city"].vocabulary[0] == "paris"  # most frequent first
    labels = np.concatenate([s.labels["click"] for s in data.splits.values()])
    assert (
        np.isnan(labels).sum() == 1 and np.nansum(labels) == 19
    )  # the empty cell is a missing label


def test_bad_cells_are_named(tmp_path):
    task = [Task("click", label="click")]
    path = _write(tmp_path / "shop.csv", [(1.0, 10, "paris", 1, "z"), (2.0, "ten", "rome", 0, "z")])
    with pytest.raises(
        ValueError, match="shop.csv: line 3, column 'shop' is 'ten', not an integer"
    ):
        load_csv(path, SPEC, task)
    path.write_text("price,city,click\n1,paris,1\n")
    with pytest.raises(ValueError, match=r"column\(s\) \['shop'\] not in the header"):
        load_csv(path, SPEC, task)
