"""Task: what a model predicts, how it is trained, and which samples count for it.

Example:

>>> ctr = Task("ctr", kind="binary")
>>> cvr = Task("cvr", kind="binary", sample_space="ctr == 1", loss_weight=0.5, decay=0.9)
>>> cvr.loss_weight_at(epoch=2)   # PLE eq 10: 0.5 * 0.9 ** 2
0.405
"""

from __future__ import annotations

import collections
import dataclasses
import operator
import re

import numpy as np

KINDS = ("binary", "regression")
_OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
_RULE = re.compile(r"^\s*(\w+)\s*(==|!=|>=|<=|>|<|in)\s*(.+?)\s*$")


@dataclasses.dataclass(frozen=True)
class Task:
    """One prediction target of a multi-task model.

    Args:
        name: str. The task's name: the model's output key, the label key in datasets.
        kind: str. `"binary"` (probability, cross-entropy, AUC) or `"regression"` (MSE).
        label: str. Source column of the label in raw data. Defaults to `name`.
        loss_weight: float. Initial loss weight ω_k0 (PLE eq 8, 10).
        decay: float. Per-epoch update ratio γ_k: ω_k(t) = ω_k0 · γ_k^t (PLE eq 10).
        sample_space: str or None. Rule selecting the samples in the task's space
            (PLE eq 9), e.g. `"click == 1"`, `"group in new,low"`, or clauses joined by `and`
            (`"group in high,low and freshness == fresh"`); samples outside it (and samples
            with a missing label) count in neither loss nor metrics.
        tower_units: tuple of int. Hidden sizes of the task's tower (heterogeneous).
        facets: dict. Facet name -> partition (e.g. `{"behaviour": "click", "group": "new"}`)
            for the hierarchical models.
    """

    name: str
    kind: str = "binary"
    label: str | None = None
    loss_weight: float = 1.0
    decay: float = 1.0
    sample_space: str | None = None
    tower_units: tuple = (64,)
    facets: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if not self.name or not re.fullmatch(r"[A-Za-z_][\w@.\-]*", self.name):
            raise ValueError(
                f"Task name {self.name!r} must start with a letter or '_' and hold no spaces."
            )
        if self.kind not in KINDS:
            raise ValueError(
                f"Task '{self.name}': kind must be one of {KINDS}. Received: kind={self.kind!r}"
            )
        if self.loss_weight < 0 or self.decay <= 0:
            raise ValueError(
                f"Task '{self.name}': loss_weight must be >= 0 and decay > 0. "
                f"Received: loss_weight={self.loss_weight}, decay={self.decay}"
            )
        object.__setattr__(self, "tower_units", tuple(int(u) for u in self.tower_units))
        object.__setattr__(self, "facets", dict(self.facets))
        if self.sample_space is not None:
            _parse_clauses(self.sample_space, self.name)

    @property
    def label_column(self) -> str:
        return self.label or self.name

    def loss_weight_at(self, epoch: int) -> float:
        """PLE eq 10: ω_k(t) = ω_k0 · γ_k^t."""
        return float(round(self.loss_weight * self.decay**epoch, 12))

    def in_space(self, columns: dict) -> np.ndarray:
        """PLE eq 9's δ_k: True for rows whose label is present and that satisfy the rule."""
        labels = np.asarray(columns[self.label_column], dtype=np.float64)
        mask = np.isfinite(labels)
        clauses = (
            _parse_clauses(self.sample_space, self.name) if self.sample_space is not None else []
        )
        for column, op, value in clauses:
            if column not in columns:
                raise ValueError(
                    f"Task '{self.name}': sample_space {self.sample_space!r} reads column "
                    f"'{column}', "
                    f"which the data lacks. Present: {sorted(columns)}"
                )
            mask &= _apply_rule(np.asarray(columns[column]), op, value)
        return mask

    def labels(
        self, columns: dict, source: str = "data", row_numbers=None, unit: str = "row"
    ) -> np.ndarray:
        """float32 labels with NaN outside the sample space; checks values fit the kind.

        `row_numbers` (and `unit`, "row" or "line") say where a bad label is in `source`."""
        if self.label_column not in columns:
            raise ValueError(
                f"Label column '{self.label_column}' of task '{self.name}' is absent from "
                f"{source}. "
                f"Present: {sorted(columns)}"
            )
        y = np.asarray(columns[self.label_column], dtype=np.float64)
        space = self.in_space(columns)
        if self.kind == "binary":
            bad = np.flatnonzero(space & (y != 0) & (y != 1))
            if bad.size:
                row = int(row_numbers[bad[0]] if row_numbers is not None else bad[0])
                raise ValueError(
                    f"Task '{self.name}' is binary but its label '{self.label_column}' is "
                    f"{y[bad[0]]} "
                    f"in {unit} {row:,} "
                    f"of {source}. "
                    "Binary labels must be 0 or 1."
                )
        return np.where(space, y, np.nan).astype(np.float32)

    def to_config(self) -> dict:
        return {**dataclasses.asdict(self), "tower_units": list(self.tower_units)}

    @classmethod
    def from_config(cls, config: dict) -> "Task":
        return cls(**config)


def check_tasks(tasks) -> list[Task]:
    """Validate a task list: non-empty, Task instances, unique names."""
    tasks = list(tasks)
    if not tasks:
        raise ValueError("A multi-task model needs at least one task.")
    for t in tasks:
        if not isinstance(t, Task):
            raise TypeError(f"Expected tfmtl.Task, got {type(t).__name__}: {t!r}")
    dupes = sorted(n for n, c in collections.Counter(t.name for t in tasks).items() if c > 1)
    if dupes:
        raise ValueError(f"Duplicate task name(s) {dupes}: every task needs a unique name.")
    return tasks


def _parse_clauses(rule: str, task: str) -> list:
    """`"a in x,y and b == 1"` -> one (column, op, value) per clause; all must hold."""
    return [_parse_rule(clause, task) for clause in re.split(r"\s+and\s+", rule)]


def _parse_rule(rule: str, task: str):
    m = _RULE.match(rule)
    if not m:
        raise ValueError(
            f"Task '{task}': cannot read sample_space {rule!r}. Write '<column> <op> <value>' "
            "with op in "
            f"{sorted(_OPS) + ['in']}, e.g. 'click == 1' or 'group in new,low'."
        )
    column, op, value = m.groups()
    if op == "in":
        return column, op, tuple(_literal(v) for v in value.split(","))
    return column, op, _literal(value)


def _literal(text: str):
    text = text.strip().strip("'\"")
    try:
        return float(text)
    except ValueError:
        return text


def _apply_rule(values: np.ndarray, op: str, value) -> np.ndarray:
    if values.dtype.kind in "SUO":
        values = values.astype(str)

        def norm(v):
            return v if isinstance(v, str) else (str(int(v)) if float(v).is_integer() else str(v))

        value = tuple(norm(v) for v in value) if op == "in" else norm(value)
    if op == "in":
        return np.isin(values, value)
    return _OPS[op](values, value)
