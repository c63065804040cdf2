"""The metrics the papers report: AUC, logloss, NE, MSE, MTL gain, expert utilisation.

Two flavours: Keras streaming metrics for `fit`/`evaluate` (masked to the task's sample
space, PLE eq 9), and exact numpy functions for final reports (`evaluate_predictions`).

Example:

>>> auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
0.75
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


# -- exact numpy metrics ---------------------------------------------------------------------
def auc(y_true, y_score) -> float:
    """ROC AUC by the Mann-Whitney rank statistic (ties count one half); NaN labels dropped."""
    y, s = _finite(y_true, y_score)
    pos, n = int((y == 1).sum()), len(y)
    if pos == 0 or pos == n:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(n, dtype=np.float64)
    sorted_s = s[order]
    # average rank of each group of tied scores
    boundaries = np.flatnonzero(np.diff(sorted_s)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [n]])
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2.0) / (pos * (n - pos)))


def logloss(y_true, y_prob, eps: float = 1e-7) -> float:
    y, p = _finite(y_true, y_prob)
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def normalized_entropy(y_true, y_prob) -> float:
    """NE: logloss divided by the entropy of the base rate (He et al., ADKDD'14)."""
    y, _ = _finite(y_true, y_prob)
    rate = float(np.clip(y.mean(), 1e-7, 1 - 1e-7))
    return logloss(y_true, y_prob) / float(-(rate * np.log(rate) + (1 - rate) * np.log(1 - rate)))


def mse(y_true, y_pred) -> float:
    y, p = _finite(y_true, y_pred)
    return float(np.mean((y - p) ** 2))


def mtl_gain(multi_task: float, single_task: float, higher_is_better: bool = True) -> float:
    """PLE eq 11: M_MTL - M_single for a positive metric, M_single - M_MTL for a negative one."""
    return multi_task - single_task if higher_is_better else single_task - multi_task


def evaluate_predictions(tasks, predictions: dict, labels: dict) -> dict:
    """Per task: AUC, logloss and NE (binary) or MSE (regression), on its sample space."""
    report = {}
    for task in tasks:
        y, p = np.asarray(labels[task.name]), np.asarray(predictions[task.name]).reshape(-1)
        count = int(np.isfinite(y).sum())
        if task.kind == "binary":
            report[task.name] = {
                "auc": auc(y, p),
                "logloss": logloss(y, p),
                "ne": normalized_entropy(y, p),
                "count": count,
            }
        else:
            report[task.name] = {"mse": mse(y, p), "count": count}
    return report


def _finite(y_true, y_score):
    y, s = np.asarray(y_true, np.float64).reshape(-1), np.asarray(y_score, np.float64).reshape(-1)
    keep = np.isfinite(y)
    return y[keep], s[keep]


# -- expert utilisation (PLE §5.3, Fig. 8) ----------------------------------------------------
def expert_utilisation(gate_weights: dict) -> dict:
    """Mean and std over samples of each gate's weight per expert.

    `gate_weights`: gate name -> `[N, num_experts]` array (a switcher built with
    `return_gates=True`; see `tfmtl.models.gate_model`). Returns name -> {"mean", "std"} lists.
    """
    return {
        name: {
            "mean": np.asarray(w).mean(axis=0).tolist(),
            "std": np.asarray(w).std(axis=0).tolist(),
        }
        for name, w in gate_weights.items()
    }


def plot_expert_utilisation(utilisation: dict, path: str, title: str = "Expert utilisation") -> str:
    """Bar chart like PLE Fig. 8: one panel per gate, mean weight per expert with std bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(utilisation)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        mean, std = np.asarray(utilisation[name]["mean"]), np.asarray(utilisation[name]["std"])
        ax.bar(np.arange(len(mean)), mean, yerr=std, capsize=3, color="#4c72b0")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("expert")
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel("gate weight")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -- Keras streaming metrics, masked to the sample space ---------------------------------------
def _masked(y_true, y_pred):
    y_true = ops.reshape(ops.cast(y_true, "float32"), (-1,))
    y_pred = ops.reshape(ops.cast(y_pred, "float32"), (-1,))
    delta = ops.isfinite(y_true)
    return ops.where(delta, y_true, 0.0), y_pred, ops.cast(delta, "float32")


@keras.saving.register_keras_serializable(package="tfmtl")
class MaskedAUC(keras.metrics.AUC):
    """`keras.metrics.AUC` over the samples in the task's space only (NaN label = outside)."""

    def __init__(self, name="auc", num_thresholds=1000, **kwargs):
        super().__init__(name=name, num_thresholds=num_thresholds, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y, p, delta = _masked(y_true, y_pred)
        return super().update_state(y, p, sample_weight=delta)


@keras.saving.register_keras_serializable(package="tfmtl")
class MaskedMSE(keras.metrics.MeanSquaredError):
    """Mean squared error over the samples in the task's space only."""

    def __init__(self, name="mse", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y, p, delta = _masked(y_true, y_pred)
        return super().update_state(
            ops.expand_dims(y, -1), ops.expand_dims(p, -1), sample_weight=delta
        )
