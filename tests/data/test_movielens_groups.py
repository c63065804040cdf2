"""MovieLens leaf tasks by activity group (MFH §5.2.2) on the shipped ML-100K files."""

import numpy as np
import pytest

from tfmtl.data.movielens_groups import (
    BASE_TASKS,
    base_labels,
    load_movielens_groups,
    row_groups,
    with_tasks,
)
from tfmtl.facets import PAPER_INCLUSION


@pytest.fixture(scope="module")
def data():
    return load_movielens_groups(seed=0, include=PAPER_INCLUSION, heterogeneous=True)


def test_leaf_tasks_read_their_groups_rows(data):
    assert [t.name for t in data.tasks] == [
        "ctr.new",
        "ctr.low",
        "ctr.high",
        "rating.new",
        "rating.low",
        "rating.high",
    ]
    assert {t.name: t.tower_units for t in data.tasks}["ctr.high"] == (128, 64)
    assert {t.name: t.tower_units for t in data.tasks}["rating.new"] == (64, 32)
    test = data["test"]
    groups = row_groups(test)
    base = base_labels(test)
    assert set(np.unique(groups)) == {"new", "low", "high"}
    # MFH §5.1.4 inclusion: ctr.low trains on low and new rows, with the base labels
    rows = np.isin(groups, ["low", "new"])
    np.testing.assert_array_equal(np.isfinite(test.labels["ctr.low"]), rows)
    np.testing.assert_array_equal(test.labels["ctr.low"][rows], base["ctr"][rows])
    np.testing.assert_array_equal(np.isfinite(test.labels["rating.new"]), groups == "new")
    assert set(np.unique(base["rating"])) == {1, 2, 3, 4, 5}
    assert "activity_group" not in data.spec.names  # the group routes, it is no input here


def test_flat_two_task_view_shares_rows_and_features(data):
    flat = with_tasks(data, BASE_TASKS)
    assert [t.name for t in flat.tasks] == ["ctr", "rating"]
    np.testing.assert_array_equal(
        flat["train"].labels["ctr"], (flat["train"].extras["label_rating"] >= 4)
    )
    assert flat["train"].features is data["train"].features
    with pytest.raises(ValueError, match="no labels for task 'x'"):
        from tfmtl.tasks import Task

        with_tasks(data, [Task("x")])
