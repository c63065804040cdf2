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

from tfmtl import contract
from tfmtl.serving.errors import ServingError

KINDS = contract.FUSION_KINDS
LENGTH_TRANSFORMS = contract.LENGTH_TRANSFORMS


@dataclasses.dataclass(frozen=True)
class Fusion:
    """A resolved fusion: kind, per-task weights, optional length feature and its transform f.

    Checked by `tfmtl.contract.validate_fusion`; a bad field is INVALID_ARGUMENT naming it.
    """

    kind: str = "product"
    weights: dict = dataclasses.field(default_factory=dict)
    length_feature: str | None = None
    length_transform: str = "none"

    def __post_init__(self):
        try:
            checked = contract.validate_fusion(dataclasses.asdict(self))
        except contract.ContractError as e:
            raise ServingError.invalid(str(e)) from None
        for key, value in checked.items():
            object.__setattr__(self, key, value)

    @classmethod
    def from_metadata(
        cls, fusion: dict | None, tasks=(), entire_space_task: str | None = None
    ) -> "Fusion":
        """The `fusion` entry of tfmtl.json; absent: `tfmtl.contract.default_fusion` of `tasks`."""
        if not fusion:
            return cls(**contract.default_fusion(tasks, entire_space_task))
        return cls(
            fusion.get("kind", "product"),
            dict(fusion.get("weights") or {}),
            fusion.get("length_feature"),
            fusion.get("length_transform") or "none",
        )

    @classmethod
    def of_model(cls, metadata: dict) -> "Fusion":
        """A tfmtl.json document's default fusion (`tfmtl.contract.metadata_fusion`)."""
        try:
            return cls(**contract.metadata_fusion(metadata))
        except contract.ContractError as e:
            raise ServingError.invalid(str(e)) from None

    def merged(
        self,
        kind=None,
        weights=None,
        replace_weights=False,
        length_feature=None,
        length_transform=None,
    ) -> "Fusion":
        """This fusion with a request's overrides (None keeps a field; length_feature "" drops)."""
        new_weights = {} if replace_weights else dict(self.weights)
        if replace_weights:
            new_weights.update({task: 0.0 for task in self.weights})
        new_weights.update(weights or {})
        return Fusion(
            kind or self.kind,
            new_weights,
            self.length_feature if length_feature is None else length_feature,
            length_transform or self.length_transform,
        )

    def restricted(self, tasks) -> "Fusion":
        """Only `tasks` (facet routing): the others leave the weights."""
        tasks = set(tasks)
        return dataclasses.replace(
            self, weights={k: w for k, w in self.weights.items() if k in tasks}
        )

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
                f"fusion.weights['{missing[0]}'] names a task the model did not return. Tasks: "
                f"{sorted(task_scores)}."
            )
        n = len(next(iter(task_scores.values())))
        with np.errstate(all="ignore"):  # overflow and 0 ** -w are reported below, by candidate
            fused = self._fuse(task_scores, length, n)
        if not np.isfinite(fused).all():
            row = int(np.argwhere(~np.isfinite(fused))[0][0])
            raise ServingError.invalid(
                f"fusion gives candidates[{row}] the score {fused[row]} ({self.kind} of "
                f"{ {k: float(np.asarray(task_scores[k])[row]) for k in self.used_tasks} } with "
                "weights "
                f"{ {k: self.weights[k] for k in self.used_tasks} }): choose weights that keep "
                "every score finite."
            )
        return fused

    def _fuse(self, task_scores: dict, length, n: int) -> np.ndarray:
        if self.kind == "product":
            fused = np.ones(n)
            for task in self.used_tasks:  # PLE eq 1: prod_k s_k^{w_k}
                fused *= np.power(
                    np.asarray(task_scores[task], dtype=np.float64), self.weights[task]
                )
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
