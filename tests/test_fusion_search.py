"""Fusion search (tfmtl.fusion_search): known-answer recovery, constraints, metrics, errors."""

import re

import numpy as np
import pytest

from tfmtl import metrics
from tfmtl.fusion_objective import _grouped_auc, _ndcg
from tfmtl.fusion_search import FusionObjective, parse_constraint, search_fusion
from tfmtl.serving.fusion import Fusion

ROWS, QUERIES = 2000, 100


@pytest.fixture(scope="module")
def scores():
    """Two task scores per row; 100 queries of 20 rows; the true gain is monotone in s1^1 * s2^2."""
    rng = np.random.default_rng(1)
    s1, s2 = rng.uniform(0.05, 1, ROWS), rng.uniform(0.05, 1, ROWS)
    return {"a": s1, "b": s2}, np.repeat(np.arange(QUERIES), ROWS // QUERIES), np.sqrt(s1 * s2**2)


def test_ndcg_search_recovers_the_true_weight_ratio(scores):
    predictions, query, gain = scores
    objective = FusionObjective({}, "ndcg", query=query, value=gain)
    result = search_fusion(predictions, objective, n_trials=60, seed=0)
    assert (
        result.fixed_task == "a" and result.best["weights"]["a"] == 1.0
    )  # scale invariance: w_a fixed
    assert result.best["weights"]["b"] == pytest.approx(2.0, abs=0.15)
    assert result.best_objective > 0.999 > result.default_objective
    assert len(result.trials) == 60 and {"number", "kind", "w_a", "w_b", "objective"} <= set(
        result.trials[0]
    )
    again = search_fusion(predictions, objective, n_trials=60, seed=0)
    assert again.best == result.best and again.trials == result.trials  # seeded: deterministic


def test_the_objective_is_measured_on_serving_s_fused_score(scores):
    predictions, query, gain = scores
    objective = FusionObjective({}, "ndcg", query=query, value=gain)
    result = search_fusion(predictions, objective, n_trials=5, seed=3)
    best = max((t for t in result.trials if t["feasible"]), key=lambda t: t["objective"])
    fused = Fusion(**result.best).score(predictions)
    assert result.best_objective == best["objective"] == objective(fused)


def test_ndcg_against_a_per_query_loop():
    rng = np.random.default_rng(0)
    query, gains, score = (
        rng.integers(0, 7, 60),
        rng.integers(0, 4, 60).astype(float),
        rng.normal(size=60),
    )
    want = []
    for q in np.unique(query):
        g, s = gains[query == q], score[query == q]
        discount = 1 / np.log2(np.arange(2, 2 + min(5, len(g))))
        ideal = np.sort(g)[::-1][:5] @ discount
        if len(g) >= 2 and ideal > 0:
            want.append(g[np.argsort(-s, kind="stable")][:5] @ discount / ideal)
    assert _ndcg(score, gains, query, k=5) == pytest.approx(np.mean(want))


def test_gauc_is_the_row_weighted_mean_of_per_query_aucs():
    rng = np.random.default_rng(0)
    query, y, s = (
        rng.integers(0, 9, 300),
        rng.integers(0, 2, 300).astype(float),
        rng.normal(size=300).round(1),
    )
    per = [
        (metrics.auc(y[query == q], s[query == q]), (query == q).sum()) for q in np.unique(query)
    ]
    per = [(a, n) for a, n in per if np.isfinite(a)]
    assert _grouped_auc(y, s, query) == pytest.approx(
        np.average([a for a, _ in per], weights=[n for _, n in per])
    )
    assert _grouped_auc(y, s, np.zeros(300, np.int64)) == pytest.approx(
        metrics.auc(y, s)
    )  # ties count one half


def test_a_constraint_is_honoured(scores):
    """The AUC objective on task 'b' alone prefers heavy w_b; 'a' AUC may not drop past 0.002."""
    predictions, query, _ = scores
    rng = np.random.default_rng(2)
    labels = {
        "a": (rng.uniform(size=ROWS) < predictions["a"]).astype(float),
        "b": (rng.uniform(size=ROWS) < predictions["b"] ** 3).astype(float),
    }
    objective = FusionObjective(labels, "auc", task_weights={"b": 1.0})
    free = search_fusion(predictions, objective, n_trials=30, seed=0, constraints=["a_auc>=-0.9"])
    held = search_fusion(predictions, objective, n_trials=30, seed=0, constraints=["a_auc>=-0.002"])
    drop = held.best_metrics["a_auc"] - held.default_metrics["a_auc"]
    assert (
        free.best_metrics["a_auc"] - free.default_metrics["a_auc"] < -0.002
    )  # unconstrained, it would drop
    assert drop >= -0.002 and held.best_objective < free.best_objective
    for trial in held.trials:
        assert trial["feasible"] == (trial["a_auc"] - held.default_metrics["a_auc"] >= -0.002)
    assert held.best_objective == max(t["objective"] for t in held.trials if t["feasible"])


def test_kind_and_length_transform_search_and_failed_trials_are_never_chosen():
    rng = np.random.default_rng(0)
    s = {
        "a": rng.uniform(0.1, 1, 200),
        "b": rng.uniform(-1, 1, 200),
    }  # b < 0: a product's s^w is NaN
    objective = FusionObjective({"a": (rng.uniform(size=200) < s["a"]).astype(float)}, "auc")
    default = {"kind": "weighted_sum", "weights": {"a": 1.0, "b": 1.0}, "length_feature": "len"}
    result = search_fusion(
        s,
        objective,
        default=default,
        length=rng.uniform(1, 100, 200),
        n_trials=20,
        seed=0,
        search_kind=True,
        search_length_transform=True,
    )
    failed = [t for t in result.trials if t["error"]]
    assert failed and all(t["kind"] == "product" and not t["feasible"] for t in failed)
    assert "choose weights that keep every score finite" in failed[0]["error"]
    assert {t["length_transform"] for t in result.trials} <= {"none", "log1p", "sigmoid"}
    assert result.best["length_feature"] == "len" and result.best_objective >= max(
        t["objective"] for t in result.trials if t["feasible"]
    )


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda p, q, g: FusionObjective({}, "mrr"),
            "objective must be one of ('ndcg', 'auc'). Received: objective='mrr'",
        ),
        (
            lambda p, q, g: FusionObjective({}, "ndcg", query=q[:5], value=g),
            "one row count each. Received: {'query': 5",
        ),
        (
            lambda p, q, g: FusionObjective({}, "ndcg", value=-g),
            "must be finite and >= 0. Received: -",
        ),
        (
            lambda p, q, g: FusionObjective({"a": np.ones(ROWS)}, "auc", task_weights={"ctr": 1}),
            "task_weights names task 'ctr', which has no 0/1 labels. Binary tasks with labels: "
            "['a']",
        ),
        (
            lambda p, q, g: FusionObjective({"a": np.ones(ROWS)}, "ndcg", gain_task="cvr"),
            "gain_task 'cvr' has no labels",
        ),
        (
            lambda p, q, g: search_fusion(p, FusionObjective({}, "ndcg", value=g), tasks=["ctr"]),
            "task 'ctr' has no predictions. Tasks: ['a', 'b']",
        ),
        (
            lambda p, q, g: search_fusion(
                p, FusionObjective({}, "ndcg", value=g), constraints=["a_auc>-1"]
            ),
            "constraint must read METRIC>=DELTA",
        ),
        (
            lambda p, q, g: search_fusion(
                p, FusionObjective({}, "ndcg", value=g), constraints=["a_auc>=-1"]
            ),
            "'a_auc' needs a task with 0/1 labels",
        ),
        (
            lambda p, q, g: search_fusion(p, FusionObjective({}, "ndcg", value=g), n_trials=0),
            "Received: n_trials=0",
        ),
        (
            lambda p, q, g: search_fusion(
                p, FusionObjective({}, "ndcg", value=g), search_length_transform=True
            ),
            "search_length_transform needs a fusion with a length_feature",
        ),
        (
            lambda p, q, g: search_fusion({"a": p["a"][:9]}, FusionObjective({}, "ndcg", value=g)),
            "predictions have {'a': 9} rows; the labels have 2000",
        ),
    ],
)
def test_bad_input_names_the_culprit(scores, make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make(*scores)


def test_parse_constraint():
    assert parse_constraint("ctr_auc>=-0.002") == ("ctr_auc", ">=", -0.002)
    assert parse_constraint(" objective <= 1e-3") == ("objective", "<=", 0.001)
