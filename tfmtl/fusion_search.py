"""Fusion search: the PLE eq 1 weights (and kind, length transform) that rank a split best.

The ranking score fuses the task heads, `prod_k s_k^{w_k} * f(length)` or
`(sum_k w_k s_k) * f(length)`. `search_fusion` tries fusions with Optuna's TPE sampler
(seeded, `n_trials` trials) and scores each with `tfmtl.serving.fusion.Fusion(...).score`,
the function the ranking service ranks by, so the search measures what serving does; a
`FusionObjective` (per-query NDCG@k, or a sum of task (G)AUCs) says what "best" is.

Scale invariance: multiplying every weight of a product fusion by c > 0 raises the score
to the power c, and a weighted sum's score is multiplied by c; neither changes the ranking.
So the first searched task's weight is fixed to 1, the others log-uniform over
`weight_range`. A product with a length factor f is not invariant (f keeps exponent 1):
there every weight is searched.

Constraints (`parse_constraint`) bound a trial's metric minus the default fusion's; a trial
that breaks one, or whose fusion gives a non-finite score, is never chosen.

Example:

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> s1, s2 = rng.uniform(0.05, 1, 400), rng.uniform(0.05, 1, 400)
>>> objective = FusionObjective({}, "ndcg", query=np.repeat(np.arange(40), 10), value=s1 * s2**2)
>>> result = search_fusion({"a": s1, "b": s2}, objective, n_trials=40, seed=0)
>>> result.fixed_task, round(result.best["weights"]["b"]) , result.best_objective > result.default_objective
('a', 2, True)
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings

import numpy as np

from tfmtl import contract

OBJECTIVES = ("ndcg", "auc")
_CONSTRAINT = re.compile(
    r"^\s*([A-Za-z0-9_.\-]+)\s*(>=|<=)\s*([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)\s*$"
)


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
    >>> objective(np.array([0.1, 0.9, 0.8, 0.2])), objective.task_auc("ctr", np.array([0.9, 0.1, 0.2, 0.8]))
    (1.0, 0.0)
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
                    f"gain_task '{gain_task}' has no labels (objective 'ndcg' needs a value or a task's labels). "
                    f"Tasks with labels: {sorted(self.labels)}."
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


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """`search_fusion`'s answer: complete fusions, constrained metrics, a dict per trial."""

    best: dict
    best_objective: float
    default: dict
    default_objective: float
    best_metrics: dict
    default_metrics: dict
    fixed_task: str | None
    trials: list


def parse_constraint(text: str) -> tuple[str, str, float]:
    """`"ctr_auc>=-0.002"` -> `("ctr_auc", ">=", -0.002)`: ctr's AUC (as the `"auc"` objective measures
    it) may drop at most 0.002 below the default fusion's. METRIC: `TASK_auc` or `objective`."""
    match = _CONSTRAINT.match(str(text))
    if not match or not (match[1] == "objective" or match[1].endswith("_auc")):
        raise ValueError(
            f"constraint must read METRIC>=DELTA or METRIC<=DELTA, METRIC 'objective' or 'TASK_auc' "
            f"(e.g. ctr_auc>=-0.002). Received: {text!r}."
        )
    return match[1], match[2], float(match[3])


def search_fusion(
    predictions: dict,
    objective: FusionObjective,
    default: dict | None = None,
    length=None,
    constraints=(),
    n_trials: int = 100,
    seed: int = 0,
    search_kind: bool = False,
    search_length_transform: bool = False,
    tasks=None,
    weight_range=(0.01, 100.0),
) -> SearchResult:
    """Search fusion weights (optionally kind and length transform) with seeded TPE.

    Args:
        predictions: dict. Task name -> `[N]` head outputs.
        objective: `FusionObjective`. What to maximise.
        default: dict or None. The model's fusion, the constraints' baseline; its kind, length
            feature and transform are kept unless searched. None: the product of all tasks.
        length: `[N]` raw values of the default's `length_feature`, or None.
        constraints: strings `METRIC>=DELTA` / `METRIC<=DELTA` (`parse_constraint`).
        n_trials: int. Trials (the budget). seed: int. The TPE sampler's seed.
        search_kind, search_length_transform: bool. Also choose the kind / f (none, log1p, sigmoid).
        tasks: task names whose weights are searched (others keep the default's); None: all.
        weight_range: `(low, high)` of the log-uniform weights.

    Returns:
        A `SearchResult`.
    """
    import optuna  # imported here: only a search needs it

    from tfmtl.serving.errors import ServingError
    from tfmtl.serving.fusion import Fusion

    default = contract.validate_fusion(default or {"weights": {t: 1.0 for t in predictions}})
    tasks = list(predictions if tasks is None else tasks)
    _check_inputs(
        predictions,
        objective,
        default,
        length,
        tasks,
        search_length_transform,
        n_trials,
        weight_range,
    )
    parsed = [parse_constraint(c) for c in constraints]
    names = sorted({n for n, _, _ in parsed})
    [
        objective.task_auc(n[:-4], np.zeros(objective.num_rows)) for n in names if n != "objective"
    ]  # fail early

    def measure(fusion: dict) -> tuple[float, dict]:
        scores = Fusion(**fusion).score(predictions, length)
        return objective(scores), {n: objective.metric(n, scores) for n in names}

    try:
        default_objective, default_metrics = measure(default)
    except ServingError as e:
        raise ValueError(f"The default fusion {default} cannot score the split: {e}") from None
    rows = []

    def run(trial) -> float:
        kind = (
            trial.suggest_categorical("kind", contract.FUSION_KINDS)
            if search_kind
            else default["kind"]
        )
        transform = (
            trial.suggest_categorical("length_transform", contract.LENGTH_TRANSFORMS)
            if search_length_transform
            else default["length_transform"]
        )
        invariant = kind == "weighted_sum" or default["length_feature"] is None
        weights = {
            **default["weights"],
            **{
                t: 1.0
                if invariant and i == 0
                # the fixed weight (scale)
                else trial.suggest_float(f"w_{t}", *weight_range, log=True)
                for i, t in enumerate(tasks)
            },
        }
        fusion = {**default, "kind": kind, "weights": weights, "length_transform": transform}
        rows.append(
            row := {
                "number": trial.number,
                "kind": fusion["kind"],
                "length_transform": fusion["length_transform"],
                **{f"w_{t}": fusion["weights"][t] for t in tasks},
            }
        )
        try:
            value, metrics = measure(fusion)
        except ServingError as e:
            row.update(objective=None, feasible=False, error=str(e))
            raise optuna.TrialPruned() from None
        slack = [
            (b - d if op == ">=" else d - b)
            if math.isfinite(d)
            else 1.0  # <= 0 holds; NaN never does
            for d, (_, op, b) in zip(
                [metrics[n] - default_metrics[n] for n, _, _ in parsed], parsed
            )
        ]
        trial.set_user_attr("constraint", slack)
        row.update(
            objective=value, **metrics, feasible=all(s <= 0 for s in slack), error="", fusion=fusion
        )
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with (
        warnings.catch_warnings()
    ):  # constraints_func: Optuna 3.6 to 6 (5 prefers Trial.set_constraint, new in 5)
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        sampler = optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=min(10, n_trials),
            constraints_func=lambda t: t.user_attrs.get("constraint", [1.0]),
        )
        optuna.create_study(direction="maximize", sampler=sampler).optimize(run, n_trials=n_trials)
    chosen = max(
        (r for r in rows if r["feasible"]),
        key=lambda r: (r["objective"], -r["number"]),
        default=None,
    )
    fusions = {r["number"]: r.pop("fusion", None) for r in rows}
    if chosen is None:
        return SearchResult(
            default,
            default_objective,
            default,
            default_objective,
            *[default_metrics] * 2,
            None,
            rows,
        )
    best = fusions[chosen["number"]]
    fixed = tasks[0] if best["kind"] == "weighted_sum" or best["length_feature"] is None else None
    return SearchResult(
        best,
        chosen["objective"],
        default,
        default_objective,
        {n: chosen[n] for n in names},
        default_metrics,
        fixed,
        rows,
    )


def _fail(message: str):
    raise ValueError(message)


def _check_inputs(
    predictions, objective, default, length, tasks, search_length_transform, n_trials, weight_range
):
    sizes = {t: len(p) for t, p in predictions.items() if len(p) != objective.num_rows}
    unknown = [t for t in [*tasks, *default["weights"]] if t not in predictions]
    problems = [
        (sizes, f"predictions have {sizes} rows; the labels have {objective.num_rows}."),
        (
            unknown,
            f"task '{(unknown or [''])[0]}' has no predictions. Tasks: {sorted(predictions)}.",
        ),
        (
            not tasks,
            "tasks is empty; name at least one task whose weight to search (and its predictions).",
        ),
        (
            default["length_feature"] is not None
            and (length is None or len(length) != objective.num_rows),
            f"fusion.length_feature '{default['length_feature']}' needs [N] length values ({objective.num_rows} rows). "
            f"Received: {'none' if length is None else f'{len(length)} rows'}.",
        ),
        (
            search_length_transform and default["length_feature"] is None,
            "search_length_transform needs a fusion with a length_feature. Received: length_feature=None.",
        ),
        (
            isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1,
            f"n_trials must be a whole number >= 1. Received: n_trials={n_trials!r}.",
        ),
        (
            not 0 < weight_range[0] < weight_range[1],
            f"weight_range must be (low, high) with 0 < low < high. Received: {weight_range!r}.",
        ),
    ]
    [_fail(message) for failed, message in problems if failed]


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
            f"NDCG gains ({what}) must be finite and >= 0. Received: {gains[bad[0]]} at row {bad[0]}."
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
    """Row-weighted mean of per-group Mann-Whitney AUCs (ties count one half), groups with both classes."""
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
