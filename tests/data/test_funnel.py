"""The click -> conversion funnel generator: rates, the funnel's logic, sample spaces, oracle."""

import numpy as np
import pytest

from tfmtl.data import load_dataset
from tfmtl.data.funnel import funnel_columns, load_funnel, select_tasks


def test_rates_follow_the_arguments():
    cols = funnel_columns(50_000, click_rate=0.05, cvr_rate=0.03, seed=1)
    assert abs(cols["click"].mean() - 0.05) < 0.006
    assert abs(cols["conversion"][cols["click"] == 1].mean() - 0.03) < 0.012
    assert abs(cols["p_click"].mean() - 0.05) < 1e-3


def test_conversion_needs_a_click_and_is_the_counterfactual_there():
    cols = funnel_columns(5_000, seed=2)
    assert (cols["conversion"][cols["click"] == 0] == 0).all()
    clicked = cols["click"] == 1
    np.testing.assert_array_equal(cols["conversion"][clicked], cols["cvr_if_clicked"][clicked])


def test_tasks_and_sample_spaces():
    data = load_dataset("funnel", rows=3_000, seed=3)
    assert [t.name for t in data.tasks] == ["ctr", "cvr", "ctcvr"]
    train = data["train"]
    click = train.labels["ctr"]
    assert np.isfinite(click).all() and np.isfinite(train.labels["ctcvr"]).all()
    assert (np.isfinite(train.labels["cvr"]) == (click == 1)).all()  # CVR lives on clicks only
    assert set(data.oracle) == set(data.splits)
    assert len(data.oracle["test"]["cvr_if_clicked"]) == len(data["test"])
    assert not {"click", "conversion", "cvr_if_clicked", "p_click", "p_convert"} & set(
        data.spec.names
    )


def test_same_seed_same_data():
    a, b = load_funnel(rows=1_000, seed=4), load_funnel(rows=1_000, seed=4)
    np.testing.assert_array_equal(a["test"].labels["ctr"], b["test"].labels["ctr"])


def test_bad_rate_is_named():
    with pytest.raises(ValueError, match="click_rate"):
        funnel_columns(100, click_rate=1.5)


def test_select_tasks_keeps_only_their_labels():
    data = select_tasks(load_funnel(rows=500, seed=5), ["ctr", "ctcvr"])
    assert [t.name for t in data.tasks] == ["ctr", "ctcvr"]
    assert set(data["train"].labels) == {"ctr", "ctcvr"} and data.oracle
    with pytest.raises(ValueError, match="purchase"):
        select_tasks(data, ["purchase"])


def test_clicked_impressions_are_a_biased_sample_of_the_space():
    # ESMM's sample selection bias: the clicked impressions a naive CVR model is trained on
    # differ in their features, and in how well they would convert, from all impressions.
    cols = funnel_columns(100_000, seed=0)
    clicked = cols["click"] == 1
    assert (
        cols["position"][clicked].mean() < cols["position"].mean() - 0.5
    )  # top slots get the clicks
    assert (
        cols["p_convert"][clicked].mean() > 1.3 * cols["p_convert"].mean()
    )  # clickers convert more
    assert cols["cvr_if_clicked"][clicked].mean() > 1.3 * cols["cvr_if_clicked"][~clicked].mean()


def test_counterfactual_conversion_depends_on_the_features_only():
    # Given the impression, the draw `cvr_if_clicked ~ p_convert` ignores the click: no hidden
    # confounder, so p(conversion | click, x) = p_convert(x) on clicked and unclicked alike.
    cols = funnel_columns(100_000, seed=1)
    for side in (cols["click"] == 1, cols["click"] == 0):
        gap = cols["cvr_if_clicked"][side].mean() - cols["p_convert"][side].mean()
        assert abs(gap) < 0.01, gap
