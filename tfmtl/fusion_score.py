"""The fusion score: per-task scores -> one ranking score (PLE eq 1, or a weighted sum), numpy.

PLE (Tang et al., RecSys'20) eq 1 ranks online by
`score = VCR^{w_VCR} × VTR^{w_VTR} × SHR^{w_SHR} × ... × f(video_len)`: in general
`score = Π_k s_k^{w_k} · f(length)`, where f is `none` (f(x) = x), `log1p` or `sigmoid`, and
no length feature means f = 1. The weighted sum is `score = (Σ_k w_k s_k) · f(length)`.
A weight of 0 leaves a task out of either. The ranking service (`tfmtl.serving.Fusion`) and
the fusion search both score with `fuse`, so a search measures what serving ranks by.

Example:

>>> fusion = tfmtl.contract.validate_fusion({"weights": {"ctr": 1.0, "finish": 0.5}})
>>> fuse(fusion, {"ctr": np.array([0.5]), "finish": np.array([0.25])})
array([0.25])
"""

from __future__ import annotations

import numpy as np

from tfmtl.contract import ContractError


def used_tasks(fusion: dict) -> list[str]:
    """The tasks a fusion reads: those whose weight is not 0."""
    return [k for k, w in fusion["weights"].items() if w != 0.0]


def length_factor(transform: str, length) -> np.ndarray:
    """f(length): x, log(1 + x) or sigmoid(x)."""
    x = np.asarray(length, dtype=np.float64)
    if transform == "log1p":
        return np.log1p(x)
    if transform == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    return x


def fuse(fusion: dict, task_scores: dict, length=None) -> np.ndarray:
    """Fused `[N]` float64 scores of a checked fusion (`tfmtl.contract.validate_fusion`).

    `task_scores`: task name -> `[N]` scores; `length`: the raw `[N]` values of the fusion's
    `length_feature`. A missing task or length, or a non-finite score, is a `ContractError`
    naming the fusion field (and the candidate).
    """
    tasks = used_tasks(fusion)
    missing = [k for k in tasks if k not in task_scores]
    if missing:
        raise ContractError(
            f"fusion.weights['{missing[0]}'] names a task the model did not return. Tasks: "
            f"{sorted(task_scores)}.",
            f"fusion.weights.{missing[0]}",
        )
    n = len(next(iter(task_scores.values())))
    with np.errstate(all="ignore"):  # overflow and 0 ** -w are reported below, by candidate
        fused = _combine(fusion, tasks, task_scores, n)
        if fusion["length_feature"] is not None:
            if length is None:
                raise ContractError(
                    f"fusion.length_feature '{fusion['length_feature']}' has no value in the "
                    "request.",
                    "fusion.length_feature",
                )
            fused = fused * length_factor(fusion["length_transform"], length)  # x f(video_len)
    if not np.isfinite(fused).all():
        row = int(np.argwhere(~np.isfinite(fused))[0][0])
        raise ContractError(
            f"fusion gives candidates[{row}] the score {fused[row]} ({fusion['kind']} of "
            f"{ {k: float(np.asarray(task_scores[k])[row]) for k in tasks} } with weights "
            f"{ {k: fusion['weights'][k] for k in tasks} }): choose weights that keep every "
            "score finite.",
            "fusion.weights",
        )
    return fused


def _combine(fusion: dict, tasks: list, task_scores: dict, n: int) -> np.ndarray:
    if fusion["kind"] == "product":
        fused = np.ones(n)
        for task in tasks:  # PLE eq 1: prod_k s_k^{w_k}
            fused *= np.power(
                np.asarray(task_scores[task], dtype=np.float64), fusion["weights"][task]
            )
        return fused
    fused = np.zeros(n)
    for task in tasks:
        fused += fusion["weights"][task] * np.asarray(task_scores[task], dtype=np.float64)
    return fused
