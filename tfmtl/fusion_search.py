"""Fusion search: the PLE eq 1 weights (and kind, length transform) that rank a split best.

The ranking score fuses the task heads, `prod_k s_k^{w_k} * f(length)` or
`(sum_k w_k s_k) * f(length)`. `search_fusion` tries fusions with Optuna's TPE sampler
(seeded, `n_trials` trials) and scores each with `tfmtl.fusion_score.fuse`,
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
>>> result.fixed_task, round(result.best["weights"]["b"])
('a', 2)
>>> bool(result.best_objective > result.default_objective)
True
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings

import numpy as np

from tfmtl import contract, fusion_score
from tfmtl.fusion_objective import OBJECTIVES, FusionObjective

__all__ = ["OBJECTIVES", "FusionObjective", "SearchResult", "parse_constraint", "search_fusion"]
_CONSTRAINT = re.compile(
    r"^\s*([A-Za-z0-9_.\-]+)\s*(>=|<=)\s*([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)\s*$"
)


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
    """`"ctr_auc>=-0.002"` -> `("ctr_auc", ">=", -0.002)`: a bound on a metric's change.

    There ctr's AUC (as the `"auc"` objective measures it) may drop at most 0.002 below the
    default fusion's. METRIC: `TASK_auc` or `objective`.
    """
    match = _CONSTRAINT.match(str(text))
    if not match or not (match[1] == "objective" or match[1].endswith("_auc")):
        raise ValueError(
            "constraint must read METRIC>=DELTA or METRIC<=DELTA, METRIC 'objective' or "
            f"'TASK_auc' (e.g. ctr_auc>=-0.002). Received: {text!r}."
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
        search_kind, search_length_transform: bool. Also choose the kind / f (none, log1p,
            sigmoid).
        tasks: task names whose weights are searched (others keep the default's); None: all.
        weight_range: `(low, high)` of the log-uniform weights.

    Returns:
        A `SearchResult`.
    """
    default = contract.validate_fusion(default or {"weights": {t: 1.0 for t in predictions}})
    tasks = list(predictions if tasks is None else tasks)
    checked = (default, length, tasks, search_length_transform, n_trials, weight_range)
    _check_inputs(predictions, objective, *checked)
    parsed = [parse_constraint(c) for c in constraints]
    names, measure = _measurer(predictions, objective, length, parsed)
    try:
        default_objective, default_metrics = measure(default)
    except contract.ContractError as e:
        raise ValueError(f"The default fusion {default} cannot score the split: {e}") from None
    rows = []

    def suggest(trial) -> dict:
        return _suggest_fusion(
            trial, default, tasks, search_kind, search_length_transform, weight_range
        )

    run = _trial_runner(rows, suggest, measure, default_metrics, parsed, tasks)
    _optimize(run, n_trials, seed)
    return _result(rows, names, tasks, default, default_objective, default_metrics)


def _trial_runner(rows: list, suggest, measure, default_metrics: dict, parsed: list, tasks):
    """Optuna's objective: scores the fusion `suggest(trial)` proposes, one dict in `rows` each.

    A fusion that cannot score the split is pruned (feasible False, its error kept); the
    others record their metrics and whether every constraint holds.
    """
    import optuna

    def run(trial) -> float:
        fusion = suggest(trial)
        row = {
            "number": trial.number,
            "kind": fusion["kind"],
            "length_transform": fusion["length_transform"],
            **{f"w_{t}": fusion["weights"][t] for t in tasks},
        }
        rows.append(row)
        try:
            value, metrics = measure(fusion)
        except contract.ContractError as e:
            row.update(objective=None, feasible=False, error=str(e))
            raise optuna.TrialPruned() from None
        slack = _slack(metrics, default_metrics, parsed)
        trial.set_user_attr("constraint", slack)
        feasible = all(s <= 0 for s in slack)
        row.update(objective=value, **metrics, feasible=feasible, error="", fusion=fusion)
        return value

    return run


def _measurer(predictions: dict, objective: FusionObjective, length, parsed: list):
    """The constrained metric names, and `measure(fusion) -> (objective, {name: metric})`.

    Scores with `fusion_score.fuse`, the function the ranking service ranks by.
    """

    names = sorted({n for n, _, _ in parsed})
    for name in names:  # an unknown task in a constraint fails before any trial
        if name != "objective":
            objective.task_auc(name[:-4], np.zeros(objective.num_rows))

    def measure(fusion: dict) -> tuple[float, dict]:
        scores = fusion_score.fuse(contract.validate_fusion(fusion), predictions, length)
        return objective(scores), {n: objective.metric(n, scores) for n in names}

    return names, measure


def _suggest_fusion(
    trial, default: dict, tasks: list, search_kind, search_length_transform, weight_range
) -> dict:
    """The complete fusion `trial` proposes: `default` with the searched parts replaced."""
    kind = default["kind"]
    if search_kind:
        kind = trial.suggest_categorical("kind", contract.FUSION_KINDS)
    transform = default["length_transform"]
    if search_length_transform:
        transform = trial.suggest_categorical("length_transform", contract.LENGTH_TRANSFORMS)
    # Scale invariance (module docstring): the first task's weight is fixed to 1.
    invariant = kind == "weighted_sum" or default["length_feature"] is None
    searched = {
        t: 1.0 if invariant and i == 0 else trial.suggest_float(f"w_{t}", *weight_range, log=True)
        for i, t in enumerate(tasks)
    }
    weights = {**default["weights"], **searched}
    return {**default, "kind": kind, "weights": weights, "length_transform": transform}


def _slack(metrics: dict, default_metrics: dict, parsed: list) -> list:
    """Per constraint, how far a trial breaks it (<= 0 holds; a NaN metric never holds)."""
    deltas = [metrics[n] - default_metrics[n] for n, _, _ in parsed]
    return [
        (bound - d if op == ">=" else d - bound) if math.isfinite(d) else 1.0
        for d, (_, op, bound) in zip(deltas, parsed)
    ]


def _optimize(run, n_trials: int, seed: int) -> None:
    """`n_trials` calls of `run` by a seeded, constrained TPE study that maximises."""
    import optuna

    def constraints(trial) -> list:
        return trial.user_attrs.get("constraint", [1.0])

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # constraints_func works from Optuna 3.6 to 6 (5 prefers Trial.set_constraint, new in 5).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        sampler = optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=min(10, n_trials), constraints_func=constraints
        )
        optuna.create_study(direction="maximize", sampler=sampler).optimize(run, n_trials=n_trials)


def _result(
    rows: list, names: list, tasks: list, default: dict, default_objective, default_metrics
) -> SearchResult:
    """The best feasible trial (ties: the earliest) as a `SearchResult`; none: the default."""
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
            f"fusion.length_feature '{default['length_feature']}' needs [N] length values "
            f"({objective.num_rows} rows). "
            f"Received: {'none' if length is None else f'{len(length)} rows'}.",
        ),
        (
            search_length_transform and default["length_feature"] is None,
            "search_length_transform needs a fusion with a length_feature. "
            "Received: length_feature=None.",
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
