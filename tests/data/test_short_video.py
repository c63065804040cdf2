"""The short-video generator: facets, group sizes, inclusion, task correlations that differ by
group.
"""

import numpy as np
import pytest

from tfmtl.data import load_dataset
from tfmtl.data.short_video import short_video_columns, short_video_tasks
from tfmtl.facets import facet_groups, facet_partitions


def test_two_and_three_facets():
    assert [t.name for t in short_video_tasks(2)][:3] == ["finish.new", "finish.low", "finish.high"]
    twelve = short_video_tasks(3)  # MFH §5.1.6: only high-activity tasks split by freshness
    assert len(twelve) == 12 and "cmpl.high.old" in {t.name for t in twelve}
    assert len(short_video_tasks(3, fresh_groups=("new", "low", "high"))) == 18  # MFH Fig. 8
    assert facet_partitions(twelve) == {
        "behaviour": ["finish", "skip", "cmpl"],
        "group": ["new", "low", "high"],
        "freshness": ["fresh", "old"],
    }
    assert facet_groups(twelve, ["group", "freshness"])["high.fresh"] == [
        "finish.high.fresh",
        "skip.high.fresh",
        "cmpl.high.fresh",
    ]
    with pytest.raises(ValueError, match="fresh_groups names unknown group\\(s\\) \\['vip'\\]"):
        short_video_tasks(3, fresh_groups=("vip",))
    with pytest.raises(ValueError, match="2 or 3 facets. Received: facets=4"):
        short_video_tasks(4)


def test_labels_follow_groups_and_inclusion():
    data = load_dataset("short_video", rows=1500, facets=3)
    train = data["train"]
    group, fresh = train.extras["activity_group"], train.extras["freshness"]
    counts = {g: int((group == g).sum()) for g in ("new", "low", "high")}
    assert counts["new"] < counts["low"] < counts["high"]  # new users are the sparse group
    # new rows train every group's tasks; low rows the high group's; serving uses the own group
    np.testing.assert_array_equal(np.isfinite(train.labels["finish.new"]), group == "new")
    np.testing.assert_array_equal(
        np.isfinite(train.labels["skip.low"]), np.isin(group, ["low", "new"])
    )
    np.testing.assert_array_equal(np.isfinite(train.labels["cmpl.high.old"]), fresh == "old")
    y = train.labels["cmpl.high.old"]
    assert np.nanmin(y) >= 0 and np.nanmax(y) <= 2
    assert set(np.unique(train.labels["finish.low"][np.isfinite(train.labels["finish.low"])])) == {
        0.0,
        1.0,
    }


def test_task_correlation_differs_by_group():
    cols = short_video_columns(30_000, seed=1)
    corr = {
        g: np.corrcoef(cols["label_finish"][m], cols["label_skip"][m])[0, 1]
        for g in ("new", "high")
        for m in [cols["activity_group"] == g]
    }
    assert (
        corr["new"] < corr["high"] - 0.1
    )  # new users' finish and skip are more tightly (anti-)correlated
