"""Loss balancing: how the task losses become one training objective (`training.loss_balancing`).

Strategies, by registry name (one place: `STRATEGIES`):

- `fixed`: `Σ_k ω_k L_k` with each task's configured weight (the default);
- `ple_decay`: the same with PLE eq 10's per-epoch decay `ω_k(t) = ω_k0 · γ_k^t` (tasks' `decay`);
- `uncertainty`: learnt log-variances (Kendall et al., CVPR'18);
- `dwa`: dynamic weight averaging (Liu et al., CVPR'19);
- `rlw`: random loss weighting (Lin et al., TMLR'22);
- `gradnorm`: gradient normalisation (Chen et al., ICML'18);
- `pcgrad`: projecting conflicting gradients (Yu et al., NeurIPS'20);
- `metabalance`: auxiliary gradients scaled to the target's (He et al., WWW'22).

Every strategy multiplies on top of the task's `ω_k(t)` and sees only in-space rows (PLE
eq 9). The weights in force are logged per epoch as `loss_weight/<task>`.

Example:

>>> balancer = make_balancer("uncertainty", [Task("ctr"), Task("watch", kind="regression")])
>>> balancer.strategy, balancer.kinds
('uncertainty', ['binary', 'regression'])
>>> make_balancer("fixed", [Task("ctr")]) is None   # the compiled losses' own sum
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from tfmtl.tasks import Task

if TYPE_CHECKING:  # the strategies import Keras; the package itself loads without it
    from tfmtl.balancing.base import LossBalancer

# name -> "module:Class" under tfmtl.balancing; None: the compiled per-task losses, summed.
STRATEGIES = {
    "fixed": None,
    "ple_decay": None,
    "uncertainty": "uncertainty:Uncertainty",
    "dwa": "dwa:DynamicWeightAverage",
    "rlw": "rlw:RandomLossWeighting",
    "gradnorm": "gradnorm:GradNorm",
    "pcgrad": "pcgrad:PCGrad",
    "metabalance": "metabalance:MetaBalance",
}

__all__ = [
    "GradientBalancer",
    "LossBalancer",
    "STRATEGIES",
    "load_strategies",
    "make_balancer",
    "strategy_class",
]


def __getattr__(name: str):  # the base classes import Keras; a run config is checked without it
    if name in ("GradientBalancer", "LossBalancer"):
        from tfmtl.balancing import base

        return getattr(base, name)
    raise AttributeError(f"module 'tfmtl.balancing' has no attribute {name!r}")


def strategy_class(name: str):
    """The `LossBalancer` subclass registered as `name` (None for `fixed` and `ple_decay`)."""
    if name not in STRATEGIES:
        raise ValueError(
            f"loss_balancing '{name}' is not a strategy; choose one of {sorted(STRATEGIES)}."
        )
    target = STRATEGIES[name]
    if target is None:
        return None
    module, cls = target.split(":")
    return getattr(importlib.import_module(f"tfmtl.balancing.{module}"), cls)


def load_strategies() -> None:
    """Import every strategy's module, so a saved balancer deserialises by its registered name."""
    for name, target in STRATEGIES.items():
        if target is not None:
            strategy_class(name)


def make_balancer(spec, tasks) -> "LossBalancer | None":
    """The balancer `spec` asks for over `tasks`, or None when the compiled losses' sum is the
    objective.

    Args:
        spec: a strategy name, or a dict `{"strategy": name, **options}` whose options are
            the strategy's constructor arguments (e.g. `{"strategy": "dwa", "temperature": 2}`).
        tasks: list of `tfmtl.tasks.Task`, in the model's order.
    """
    if spec is None:
        return None
    options = dict(spec) if isinstance(spec, dict) else {"strategy": spec}
    name = options.pop("strategy", None)
    if not isinstance(name, str):
        raise ValueError(
            f"loss_balancing needs a strategy name (one of {sorted(STRATEGIES)}). Received: "
            f"{spec!r}"
        )
    cls = strategy_class(name)
    tasks = [t if isinstance(t, Task) else Task.from_config(t) for t in tasks]
    if name == "ple_decay" and all(t.decay == 1.0 for t in tasks):
        raise ValueError(
            "loss_balancing 'ple_decay' needs a task with a decay other than 1 (PLE eq 10: "
            "ω_k(t) = ω_k0 · γ_k^t); set tasks[i].decay, e.g. 0.9."
        )
    if cls is None:
        if options:
            raise ValueError(
                f"loss_balancing '{name}' takes no options. Received: {sorted(options)}"
            )
        return None
    known = _arguments(cls)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"loss_balancing '{name}' has no option {unknown[0]!r}; its options: "
            f"{sorted(known - {'kinds'})}."
        )
    if "kinds" in known:
        options.setdefault("kinds", [t.kind for t in tasks])
    return cls([t.name for t in tasks], **options)


def _arguments(cls) -> set:
    import inspect

    return {
        p
        for p in inspect.signature(cls.__init__).parameters
        if p not in ("self", "tasks", "kwargs")
    }
