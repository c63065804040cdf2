"""Pictures of a trained model: training curves, expert utilisation (PLE Fig. 8), gate
distributions.

Gates are read by `tfmtl.models.gate_model` (the builders keep every switcher's gates in the
graph), so any model with gated switchers (MMoE, OMoE, ML-MMoE, CGC, PLE, AdaTT, ...) can be
drawn after training, or after loading its `.keras` file. The
numbers each heatmap shows are `utilisation_matrices` of `tfmtl.metrics.expert_utilisation`.
Needs matplotlib: `pip install "tfmtl[plot]"`.

Example:

>>> paths = write_plots(  # doctest: +SKIP
...     model, data, "test", "plots/", history="runs/ple/history.json")
>>> [p.name for p in paths]  # doctest: +SKIP
['curves.png', 'expert_utilisation.png', 'gate_distributions.png']
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np


def write_plots(model, data, split: str, out_dir, history=None, rows: int = 20_000) -> list[Path]:
    """Write PNGs of `model` on `split` of `data` into `out_dir`; return the paths written.

    `curves.png`: total loss, then per task its loss and metrics, train and validation, from
    `history` (a Keras History, its `.history` dict, or the path of `history.json`).
    `expert_utilisation.png`: per switcher level a heatmap of the mean gate weight, task x
    expert. `gate_distributions.png`: per gate, histograms of the per-sample weights. Both
    read the first `rows` samples; for a model without gated switchers they are skipped and
    the reason printed on stderr.
    """
    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    history = _history_dict(history)
    if history:
        written.append(_curves(plt, history, [t.name for t in model.tasks], out / "curves.png"))
    try:
        reader = gate_reader(model)
    except ValueError as e:
        print(
            f"[tfmtl] no expert-utilisation or gate-distribution plots: {e}",
            file=sys.stderr,
            flush=True,
        )
        return written
    from tfmtl.metrics import expert_utilisation

    gates = _predict(reader, {k: v[:rows] for k, v in data[split].features.items()})
    layouts = expert_layouts(model)
    matrices = utilisation_matrices(expert_utilisation(gates), layouts)
    names = _task_namer(model)
    written.append(
        _heatmaps(
            plt, matrices, names, out / "expert_utilisation.png", f"Expert utilisation, {split}"
        )
    )
    written.append(_distributions(plt, gates, layouts, names, out / "gate_distributions.png"))
    return written


def utilisation_matrices(utilisation: dict, layouts: dict | None = None) -> dict:
    """The matrices the utilisation heatmaps draw: mean gate weight, gate x expert, per level.

    `utilisation`: `tfmtl.metrics.expert_utilisation` of gate weights keyed
    `<switcher>[/level_<j>]/<gate>`. `layouts`: switcher -> `(expert labels, {gate: columns})`
    from `expert_layouts`; a gate that sees only some experts of its level (CGC's task gates,
    PLE eq 4) fills only those columns, the rest are NaN. Without a layout, gate g's weight e
    is column e. Returns panel `<switcher>[/level_<j>]` -> `(gate names, expert labels,
    [gates, experts] array)`.

    >>> util = {"cgc/task_0": {"mean": [0.75, 0.25]}, "cgc/task_1": {"mean": [0.5, 0.5]}}
    >>> layouts = {
    ...     "cgc": (["task_0/0", "task_1/0", "shared/0"], {"task_0": [0, 2], "task_1": [1, 2]})}
    >>> gates, experts, matrix = utilisation_matrices(util, layouts)["cgc"]
    >>> gates, matrix.tolist()
    (['task_0', 'task_1'], [[0.75, nan, 0.25], [nan, 0.5, 0.5]])
    """
    layouts = layouts or {}
    panels: dict = {}
    for name, stats in utilisation.items():
        panel, _, gate = name.rpartition("/")
        panels.setdefault(panel or "gates", []).append(
            (gate, np.asarray(stats["mean"], np.float64))
        )
    matrices = {}
    for panel, gates in panels.items():
        labels, columns = layouts.get(panel.split("/")[0], (None, {}))
        width = len(labels) if labels else max(len(mean) for _, mean in gates)
        labels = labels or [str(e) for e in range(width)]
        matrix = np.full((len(gates), width), np.nan)
        for row, (gate, mean) in enumerate(gates):
            cols = columns.get(gate, list(range(len(mean))))
            if len(cols) != len(mean) or max(cols, default=-1) >= width:
                raise ValueError(
                    f"Gate '{panel}/{gate}' has {len(mean)} weights but its layout places them in "
                    f"columns {list(cols)} of {width} experts; pass the layout of the model that "
                    "made it."
                )
            matrix[row, cols] = mean
        matrices[panel] = ([g for g, _ in gates], list(labels), matrix)
    return matrices


def expert_layouts(model) -> dict:
    """Switcher name -> `(expert labels, {gate: columns})` for every gated switcher of `model`.

    One level's experts are the columns: CGC and PLE levels list each task's experts, then the
    shared ones, and task k's gate sees its own and the shared (PLE eq 4); AdaTT's gates see
    every expert of the level; MMoE-like gates see all experts, in order.
    """
    from tfmtl.layers.adatt import AdaTT
    from tfmtl.layers.ple import CGC, PLE
    from tfmtl.layers.switcher import Switcher

    layouts = {}
    for layer in model.layers:
        if not isinstance(layer, Switcher) or not layer.gate_names:
            continue
        t = layer.num_outputs
        if isinstance(layer, (CGC, PLE)):
            m_t, m_s = layer.num_task_experts, layer.num_shared_experts
            labels = [f"task_{k}/{i}" for k in range(t) for i in range(m_t)] + [
                f"shared/{i}" for i in range(m_s)
            ]
            shared = list(range(t * m_t, t * m_t + m_s))
            columns = {f"task_{k}": list(range(k * m_t, (k + 1) * m_t)) + shared for k in range(t)}
            columns["shared"] = list(range(len(labels)))
        elif isinstance(layer, AdaTT):
            counts = layer.num_task_experts
            counts = list(counts) if isinstance(counts, (list, tuple)) else [counts] * t
            labels = [f"task_{k}/{i}" for k in range(t) for i in range(counts[k])]
            labels += [f"shared/{i}" for i in range(layer.num_shared_experts)]
            columns = {}
        else:
            labels, columns = None, {}
        layouts[layer.name] = (labels, columns)
    return layouts


def gate_reader(model):
    """A model from `model`'s inputs to every gate, keyed `<switcher>/<gate>` (`gate_model`).

    Raises `ValueError` if it has no gated switcher.
    """
    from tfmtl.models.flat import gate_model

    return gate_model(model)


def gate_weights(model, features: dict) -> dict | None:
    """Gate name -> `[N, num_experts]` weights on `features`, or None if the model has no gates."""
    try:
        reader = gate_reader(model)
    except ValueError:
        return None
    return _predict(reader, features)


def _predict(reader, features: dict) -> dict:
    import keras

    x = {k: keras.ops.convert_to_tensor(v) for k, v in features.items()}
    return {k: np.asarray(v) for k, v in reader.predict(x, verbose=0, batch_size=4096).items()}


def _task_namer(model):
    """Labels with `task_k` written as task k's name, where switcher output k is task k (flat
    models)."""
    names = [t.name for t in model.tasks]
    if getattr(model, "metadata", {}).get("family", "flat") != "flat":
        return lambda text: text

    def rename(text: str) -> str:
        parts = text.split("/")
        for i, part in enumerate(parts):
            if part.startswith("task_") and part[5:].isdigit() and int(part[5:]) < len(names):
                parts[i] = names[int(part[5:])]
        return "/".join(parts)

    return rename


def _history_dict(history) -> dict:
    if history is None:
        return {}
    if isinstance(history, (str, os.PathLike)):
        history = json.loads(Path(history).read_text())
    history = getattr(history, "history", history)
    if not isinstance(history, dict):
        raise ValueError(
            f"history: expected a Keras History, its dict or a history.json path; "
            f"got {type(history).__name__}."
        )
    return {k: [float(v) for v in vs] for k, vs in history.items()}


def _curves(plt, history: dict, tasks: list, path: Path) -> Path:
    """Row 0: total loss (and loss weights); one row per task: its loss, then each metric."""
    from matplotlib import ticker

    rows = {"": {}}
    for key in history:
        base = key[4:] if key.startswith("val_") else key
        if base == "loss" or base.startswith("loss_weight/"):
            rows[""].setdefault("loss weight" if base != "loss" else "loss", []).append(key)
            continue
        owners = [t for t in tasks if base.startswith(f"{t}_")]
        if owners:
            task = max(owners, key=len)
            rows.setdefault(task, {}).setdefault(base[len(task) + 1 :], []).append(key)
    width = max(len(panels) for panels in rows.values()) or 1
    fig, axes = plt.subplots(
        len(rows), width, figsize=(3.6 * width, 2.6 * len(rows)), squeeze=False
    )
    for r, (task, panels) in enumerate(rows.items()):
        for ax in axes[r][len(panels) :]:
            ax.axis("off")
        for ax, (metric, keys) in zip(axes[r], panels.items()):
            for key in keys:
                label = (
                    "validation"
                    if key.startswith("val_")
                    else ("train" if metric != "loss weight" else key[12:])
                )
                ax.plot(np.arange(1, len(history[key]) + 1), history[key], marker="o", label=label)
            ax.set_title(f"{task} {metric}".strip(), fontsize=9)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _heatmaps(plt, matrices: dict, rename, path: Path, title: str) -> Path:
    fig, axes = plt.subplots(
        1,
        len(matrices),
        squeeze=False,
        figsize=(sum(1.2 + 0.55 * m.shape[1] for _, _, m in matrices.values()) + 1.5, 3.4),
    )
    cmap = plt.get_cmap("viridis").with_extremes(bad="#dddddd")
    for ax, (panel, (gates, experts, matrix)) in zip(axes[0], matrices.items()):
        image = ax.imshow(
            np.ma.masked_invalid(matrix), vmin=0.0, vmax=1.0, cmap=cmap, aspect="auto"
        )
        for (i, j), v in np.ndenumerate(matrix):
            if np.isfinite(v):
                ax.text(
                    j,
                    i,
                    f"{v:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if v < 0.6 else "black",
                )
        ax.set_xticks(
            range(len(experts)), [rename(e) for e in experts], rotation=60, ha="right", fontsize=7
        )
        ax.set_yticks(range(len(gates)), [rename(g) for g in gates], fontsize=8)
        ax.set_title(panel, fontsize=9)
        ax.set_xlabel("expert", fontsize=8)
    axes[0][0].set_ylabel("gate")
    fig.colorbar(image, ax=list(axes[0]), fraction=0.03, label="mean gate weight")
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _distributions(plt, gates: dict, layouts: dict, rename, path: Path) -> Path:
    panels: dict = {}
    for name in gates:
        panels.setdefault(name.rpartition("/")[0], []).append(name)
    width = max(len(names) for names in panels.values())
    fig, axes = plt.subplots(
        len(panels), width, figsize=(3.2 * width, 2.6 * len(panels)), squeeze=False
    )
    for r, names in enumerate(panels.values()):
        for ax in axes[r][len(names) :]:
            ax.axis("off")
        for ax, name in zip(axes[r], names):
            labels, columns = layouts.get(name.split("/")[0], (None, {}))
            weights = gates[name]
            cols = columns.get(name.rpartition("/")[2], range(weights.shape[1]))
            for e, col in enumerate(cols):
                label = rename(labels[col]) if labels else f"expert {col}"
                ax.hist(weights[:, e], bins=30, range=(0, 1), histtype="step", label=label)
            ax.set_title(rename(name), fontsize=9)
            ax.set_xlabel("gate weight", fontsize=8)
            ax.legend(fontsize=6)
        axes[r][0].set_ylabel("samples")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _pyplot():
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise ValueError('plots need matplotlib: pip install "tfmtl[plot]"') from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
