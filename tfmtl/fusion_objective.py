"""What a fusion search maximises: NDCG@k per query, or a sum of task (G)AUCs, in numpy.

Example:

>>> objective = FusionObjective({"ctr": np.array([0.0, 1, 1, 0])}, "ndcg")
>>> round(objective(np.array([0.1, 0.9, 0.8, 0.2])), 3), objective.gain_task
(1.0, 'ctr')
"""

from __future__ import annotations

import math

import numpy as np

OBJECTIVES = ("ndcg", "auc")


class FusionObjective:
    """What a fusion search maximises on one split: NDCG@k per query, or a sum of (G)AUCs.

    `"ndcg"`: the mean over queries with >= 2 rows and a positive gain of NDCG@k of the fused
    ranking, linear gains (`DCG = sum_i g_i / log2(i + 1)`, NaN labels count 0); without
    query ids the split is one query. `"auc"`: `sum_t c_t * AUC_t` of the fused score against
    binary task t's labels, rows outside its space dropped; with query ids each AUC_t is a
    GAUC, per-query AUCs weighted by their rows, over queries with both classes.

    Args:
        labels: dict. Task name -> `[N]` labels, NaN outside the task's sample space.
        kind: str. `"ndcg"` or `"auc"`. Defaults to `"ndcg"`.
        query: `[N]` query ids (user ids, request ids) or None: one query. Defaults to `None`.
        value: `[N]` non-negative gains for `"ndcg"` (watch time, revenue), or None to use
            `gain_task`'s labels. Defaults to `None`.
        gain_task: str or None. Whose labels are the gains when `value` is None; None: the
            first binary task. Defaults to `None`.
        task_weights: dict or None. Task -> c_t for `"auc"`; None: 1 each. Defaults to `None`.
        k: int. NDCG's cut-off. Defaults to `10`.

    Example:

    >>> objective = FusionObjective({"ctr": np.array([0.0, 1, 1, 0])}, "auc")
    >>> objective(np.array([0.1, 0.9, 0.8, 0.2]))
    1.0
    >>> objective.task_auc("ctr", np.array([0.9, 0.1, 0.2, 0.8]))
    0.0
    """

    def __init__(
        self,
        labels: dict,
        kind: str = "ndcg",
        query=None,
        value=None,
        gain_task: str | None = None,
        task_weights: dict | None = None,
        k: int = 10,
    ) -> None:
        if kind not in OBJECTIVES:
            raise ValueError(
                f"objective must be one of {OBJECTIVES}. Received: objective={kind!r}."
            )
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a whole number >= 1. Received: k={k!r}.")
        self.labels = {t: np.asarray(y, dtype=np.float64).reshape(-1) for t, y in labels.items()}
        self.binary = [
            t for t, y in self.labels.items() if np.isin(y[np.isfinite(y)], (0.0, 1.0)).all()
        ]
        self.kind, self.k, self.num_rows = kind, k, _rows(self.labels, query, value)
        self.query = None if query is None else _codes(query)
        if kind == "auc":
            self.task_weights = self._task_weights(task_weights)
        elif value is not None:
            self.gains = _gains(np.asarray(value, dtype=np.float64).reshape(-1), "value")
        else:
            gain_task = gain_task if gain_task is not None else (self.binary or [None])[0]
            if gain_task not in self.labels:
                _fail(
                    f"gain_task '{gain_task}' has no labels (objective 'ndcg' needs a value or "
                    f"a task's labels). Tasks with labels: {sorted(self.labels)}."
                )
            self.gains = _gains(
                np.nan_to_num(self.labels[gain_task], nan=0.0), f"labels of task '{gain_task}'"
            )
        self.gain_task = gain_task if kind == "ndcg" and value is None else None

    def _task_weights(self, task_weights):
        weights = {t: 1.0 for t in self.binary} if task_weights is None else dict(task_weights)
        for task, c in weights.items():
            if task not in self.binary:
                raise ValueError(
                    f"task_weights names task '{task}', which has no 0/1 labels. Binary tasks with "
                    f"labels: {self.binary}."
                )
            if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c):
                raise ValueError(
                    f"task_weights['{task}'] must be a finite number. Received: {c!r}."
                )
        return weights or _fail(
            "objective 'auc' needs a binary task with labels; task_weights is empty."
        )

    def __call__(self, scores: np.ndarray) -> float:
        """The objective of `[N]` fused scores (higher is better)."""
        if self.kind == "auc":
            return float(sum(c * self.task_auc(t, scores) for t, c in self.task_weights.items()))
        return _ndcg(scores, self.gains, self.query, self.k)

    def task_auc(self, task: str, scores: np.ndarray) -> float:
        """Task `task`'s AUC of `scores` (GAUC with query ids); rows outside its space dropped."""
        if task not in self.binary:
            raise ValueError(
                f"'{task}_auc' needs a task with 0/1 labels. Binary tasks: {self.binary}."
            )
        rows = np.flatnonzero(np.isfinite(self.labels[task]))
        groups = np.zeros(rows.size, np.int64) if self.query is None else self.query[rows]
        return _grouped_auc(self.labels[task][rows], np.asarray(scores, np.float64)[rows], groups)

    def metric(self, name: str, scores: np.ndarray) -> float:
        """`"objective"` or `"TASK_auc"` of `scores`."""
        return self(scores) if name == "objective" else self.task_auc(name[:-4], scores)


def _fail(message: str):
    raise ValueError(message)


def _rows(labels: dict, query, value) -> int:
    sizes = {f"labels['{t}']": len(y) for t, y in labels.items()}
    sizes.update(
        {name: len(v) for name, v in (("query", query), ("value", value)) if v is not None}
    )
    if len(set(sizes.values())) != 1:
        _fail(f"labels, query and value must have one row count each. Received: {sizes or 'none'}.")
    return next(iter(sizes.values()))


def _codes(query) -> np.ndarray:
    query = np.asarray(query).reshape(-1)
    if query.dtype.kind == "f" and not np.isfinite(query).all():
        _fail(f"query has a missing id at row {int(np.flatnonzero(~np.isfinite(query))[0])}.")
    return np.unique(query.astype(str) if query.dtype == object else query, return_inverse=True)[
        1
    ].reshape(-1)


def _gains(gains: np.ndarray, what: str) -> np.ndarray:
    bad = np.flatnonzero(~np.isfinite(gains) | (gains < 0))
    return (
        _fail(
            f"NDCG gains ({what}) must be finite and >= 0. "
            f"Received: {gains[bad[0]]} at row {bad[0]}."
        )
        if bad.size
        else gains
    )


def _ndcg(scores, gains, query, k: int) -> float:
    n, groups = gains.size, np.zeros(gains.size, np.int64) if query is None else query
    order = np.lexsort((-np.asarray(scores, np.float64), groups))  # by query, then score descending
    ideal = np.lexsort((-gains, groups))
    g, m = groups[order], groups.max() + 1
    start = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    rank = np.arange(n) - np.repeat(start, np.diff(np.r_[start, n]))
    discount = np.where(rank < k, 1.0 / np.log2(rank + 2.0), 0.0)
    dcg, best = (
        np.bincount(g, gains[order] * discount, m),
        np.bincount(g, gains[ideal] * discount, m),
    )
    counted = (np.bincount(groups) >= 2) & (best > 0)
    return float(np.mean(dcg[counted] / best[counted])) if counted.any() else float("nan")


def _grouped_auc(y, s, groups) -> float:
    """Row-weighted mean of per-group Mann-Whitney AUCs (ties count one half).

    Only groups with both classes count.
    """
    n = y.size
    order = np.lexsort((s, groups))
    g, s, y = groups[order], s[order], y[order]
    tie_start = np.flatnonzero(np.r_[True, (g[1:] != g[:-1]) | (s[1:] != s[:-1])])
    tie_end = np.r_[tie_start[1:], n]
    group_start = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ranks = np.repeat((tie_start + tie_end + 1) / 2.0, tie_end - tie_start)
    ranks -= np.repeat(group_start, np.diff(np.r_[group_start, n]))  # rank within the group, from 1
    ids = np.cumsum(np.r_[True, g[1:] != g[:-1]]) - 1
    pos, count, rank_sum = (
        np.bincount(ids, y),
        np.bincount(ids).astype(np.float64),
        np.bincount(ids, ranks * y),
    )
    neg = count - pos
    ok = (pos > 0) & (neg > 0)
    aucs = (rank_sum[ok] - pos[ok] * (pos[ok] + 1) / 2.0) / (pos[ok] * neg[ok])
    return float(np.average(aucs, weights=count[ok])) if ok.any() else float("nan")
