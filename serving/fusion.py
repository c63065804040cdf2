"""Fusion: per-task scores -> one ranking score (PLE eq 1, or a weighted sum), in numpy.

PLE (Tang et al., RecSys'20) eq 1 ranks online by
`score = VCR^{w_VCR} × VTR^{w_VTR} × SHR^{w_SHR} × ... × f(video_len)`: in general
`score = Π_k s_k^{w_k} · f(length)`, where f is `none` (f(x) = x), `log1p` or `sigmoid`, and
no length feature means f = 1. The weighted sum is `score = (Σ_k w_k s_k) · f(length)`.
A weight of 0 leaves a task out of either.

Example:

>>> fusion = Fusion.from_metadata({"kind": "product", "weights": {"ctr": 1.0, "finish": 0.5},
...                                "length_feature": None, "length_transform": "none"})
>>> fusion.score({"ctr": np.array([0.5]), "finish": np.array([0.25])})
array([0.25])
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfmtl.serving.errors import ServingError

KINDS = ("product", "weighted_sum")
LENGTH_TRANSFORMS = ("none", "log1p", "sigmoid")


@dataclasses.dataclass(frozen=True)
class Fusion:
    """A resolved fusion: kind, per-task weights, optional length feature and its transform f."""

    kind: str = "product"
    weights: dict = dataclasses.field(default_factory=dict)
    length_feature: str | None = None
    length_transform: str = "none"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ServingError.invalid(f"fusion.kind must be one of {KINDS}. Received: {self.kind!r}.")
        if self.length_transform not in LENGTH_TRANSFORMS:
            raise ServingError.invalid(
                f"fusion.length_transform must be one of {LENGTH_TRANSFORMS}. Received: {self.length_transform!r}."
            )
        for task, w in self.weights.items():
            if not np.isfinite(w):
                raise ServingError.invalid(f"fusion.weights['{task}'] must be finite. Received: {w}.")
        object.__setattr__(self, "weights", {k: float(v) for k, v in self.weights.items()})
        object.__setattr__(self, "length_feature", self.length_feature or None)

    @classmethod
    def from_metadata(cls, fusion: dict | None, tasks=()) -> "Fusion":
        """The `fusion` entry of tfmtl.json; absent: product of every binary task (weight 1)."""
        if not fusion:
            return cls("product", {t["name"]: 1.0 if t["kind"] == "binary" else 0.0 for t in tasks})
        return cls(fusion.get("kind", "product"), dict(fusion.get("weights") or {}),
                   fusion.get("length_feature"), fusion.get("length_transform") or "none")

    def merged(self, kind=None, weights=None, replace_weights=False, length_feature=None,
               length_transform=None) -> "Fusion":
        """This fusion with a request's overrides (None keeps the field; length_feature "" drops f)."""
        new_weights = {} if replace_weights else dict(self.weights)
        if replace_weights:
            new_weights.update({task: 0.0 for task in self.weights})
        new_weights.update(weights or {})
        return Fusion(kind or self.kind, new_weights,
                      self.length_feature if length_feature is None else length_feature,
                      length_transform or self.length_transform)

    def restricted(self, tasks) -> "Fusion":
        """Only `tasks` (facet routing): the others leave the weights."""
        tasks = set(tasks)
        return dataclasses.replace(self, weights={k: w for k, w in self.weights.items() if k in tasks})

    @property
    def used_tasks(self) -> list[str]:
        return [k for k, w in self.weights.items() if w != 0.0]

    def length_factor(self, length: np.ndarray) -> np.ndarray:
        """f(length): x, log(1 + x) or sigmoid(x)."""
        x = np.asarray(length, dtype=np.float64)
        if self.length_transform == "log1p":
            return np.log1p(x)
        if self.length_transform == "sigmoid":
            return 1.0 / (1.0 + np.exp(-x))
        return x

    def score(self, task_scores: dict, length: np.ndarray | None = None) -> np.ndarray:
        """Fused `[N]` float64 scores from task name -> `[N]` scores (and the raw length values)."""
        missing = [k for k in self.used_tasks if k not in task_scores]
        if missing:
            raise ServingError.invalid(
                f"fusion.weights['{missing[0]}'] names a task the model did not return. Tasks: {sorted(task_scores)}."
            )
        n = len(next(iter(task_scores.values())))
        if self.kind == "product":
            fused = np.ones(n)
            for task in self.used_tasks:  # PLE eq 1: prod_k s_k^{w_k}
                fused *= np.power(np.asarray(task_scores[task], dtype=np.float64), self.weights[task])
        else:
            fused = np.zeros(n)
            for task in self.used_tasks:
                fused += self.weights[task] * np.asarray(task_scores[task], dtype=np.float64)
        if self.length_feature is not None:
            if length is None:
                raise ServingError.invalid(
                    f"fusion.length_feature '{self.length_feature}' has no value in the request."
                )
            fused = fused * self.length_factor(length)  # PLE eq 1: x f(video_len)
        return fused

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
