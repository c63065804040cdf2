"""Fusion: a request's ranking fusion, checked, merged with overrides and scored.

The score itself is `tfmtl.fusion_score.fuse` (PLE eq 1, or a weighted sum); here a bad
field or a non-finite score becomes INVALID_ARGUMENT naming it.

Example:

>>> fusion = Fusion.from_metadata({"kind": "product", "weights": {"ctr": 1.0, "finish": 0.5},
...                                "length_feature": None, "length_transform": "none"})
>>> fusion.score({"ctr": np.array([0.5]), "finish": np.array([0.25])})
array([0.25])
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfmtl import contract, fusion_score
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
        return fusion_score.used_tasks(self.to_dict())

    def length_factor(self, length: np.ndarray) -> np.ndarray:
        """f(length): x, log(1 + x) or sigmoid(x)."""
        return fusion_score.length_factor(self.length_transform, length)

    def score(self, task_scores: dict, length: np.ndarray | None = None) -> np.ndarray:
        """Fused `[N]` float64 scores from task name -> `[N]` scores (and the raw length values)."""
        try:
            return fusion_score.fuse(self.to_dict(), task_scores, length)
        except contract.ContractError as e:
            raise ServingError.invalid(str(e)) from None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
