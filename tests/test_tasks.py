import numpy as np
import pytest

from tfmtl import Task
from tfmtl.tasks import check_tasks


def test_eq10_loss_weight_schedule():
    t = Task("ctr", loss_weight=0.8, decay=0.5)
    assert [t.loss_weight_at(e) for e in range(3)] == [0.8, 0.4, 0.2]


def test_sample_space_rules_and_missing_labels():
    cols = {
        "click": np.array([1, 0, 1, 1, np.nan]),
        "buy": np.array([1, 0, 0, np.nan, 1]),
        "group": np.array(["new", "low", "high", "new", "low"]),
    }
    cvr = Task("buy", sample_space="click == 1")
    np.testing.assert_array_equal(cvr.in_space(cols), [True, False, True, False, False])
    np.testing.assert_array_equal(cvr.labels(cols)[[0, 2]], [1, 0])
    assert np.isnan(cvr.labels(cols)[[1, 3, 4]]).all()
    grouped = Task("click", sample_space="group in new,low")
    np.testing.assert_array_equal(grouped.in_space(cols), [True, True, False, True, False])


def test_bad_tasks_are_named():
    with pytest.raises(ValueError, match="kind='poisson'"):
        Task("x", kind="poisson")
    with pytest.raises(ValueError, match=r"Duplicate task name\(s\) \['ctr'\]"):
        check_tasks([Task("ctr"), Task("ctr")])
    with pytest.raises(ValueError, match="cannot read sample_space 'click is 1'"):
        Task("x", sample_space="click is 1")
    with pytest.raises(ValueError, match="Label column 'y' of task 'ctr' is absent from train.csv"):
        Task("ctr", label="y").labels({"x": np.ones(2)}, "train.csv")
    with pytest.raises(ValueError, match="label 'ctr' is 2.0 in row 1 of train.csv"):
        Task("ctr").labels({"ctr": np.array([1.0, 2.0])}, "train.csv")
    with pytest.raises(ValueError, match="reads column 'click'"):
        Task("buy", sample_space="click == 1").in_space({"buy": np.ones(2)})


def test_config_round_trip():
    t = Task(
        "ctr@new",
        kind="binary",
        loss_weight=2.0,
        decay=0.9,
        sample_space="g == new",
        tower_units=(8, 4),
        facets={"behaviour": "ctr", "group": "new"},
    )
    assert Task.from_config(t.to_config()) == t
