"""Pictures of a trained model: training curves, expert utilisation (PLE Fig. 8), gate distributions.

Gates are read from a copy of the model rebuilt with `return_gates=True` from its
`model_config` (the same weights), so any registry-built model with gated switchers
(MMoE, PLE, CGC, AdaTT, ...) can be drawn after training.

Example:

>>> paths = write_plots(model, data, "test", "plots/", history=json.load(open("runs/ple/history.json")))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_plots(model, data, split: str, out_dir, history: dict | None = None, rows: int = 20_000) -> list:
    """PNGs in `out_dir`: `curves.png` (from a Keras history dict), `expert_utilisation.png` and
    `gate_distributions.png` (gated switchers only; others are skipped with a printed note)."""
    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if history:
        written.append(_curves(plt, history, out / "curves.png"))
    gates = gate_weights(model, {k: v[:rows] for k, v in data[split].features.items()})
    if gates is None:
        print(f"[tfmtl] {model.name} has no gated switcher: no expert-utilisation plots", flush=True)
        return written
    from tfmtl.metrics import expert_utilisation, plot_expert_utilisation

    written.append(Path(plot_expert_utilisation(expert_utilisation(gates), str(out / "expert_utilisation.png"),
                                                title=f"Expert utilisation, {split}")))
    written.append(_distributions(plt, gates, out / "gate_distributions.png"))
    return written


def gate_weights(model, features: dict) -> dict | None:
    """Gate name -> `[N, num_experts]` weights on `features`, or None if the model has no gates."""
    from tfmtl.models.flat import gate_model
    from tfmtl.models.registry import build

    config = model.metadata.get("model_config")
    if config is None:
        return None
    try:
        gated = build(config, model.feature_spec, model.tasks, return_gates=True)
        gated.set_weights(model.get_weights())
        reader = gate_model(gated)
    except ValueError:
        return None
    import keras

    x = {k: keras.ops.convert_to_tensor(v) for k, v in features.items()}
    return {k: np.asarray(v) for k, v in reader.predict(x, verbose=0, batch_size=4096).items()}


def _curves(plt, history: dict, path: Path) -> Path:
    metrics = [k for k in history if k.startswith("val_") and k != "val_loss"]
    fig, axes = plt.subplots(1, 1 + bool(metrics), figsize=(10 if metrics else 5, 3.2), squeeze=False)
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    for key in ("loss", "val_loss"):
        if key in history:
            axes[0][0].plot(epochs, history[key], marker="o", label=key)
    axes[0][0].set_xlabel("epoch")
    axes[0][0].legend(fontsize=8)
    if metrics:
        for key in metrics:
            axes[0][1].plot(np.arange(1, len(history[key]) + 1), history[key], marker="o", label=key[4:])
        axes[0][1].set_xlabel("epoch")
        axes[0][1].set_title("validation", fontsize=9)
        axes[0][1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _distributions(plt, gates: dict, path: Path) -> Path:
    names = list(gates)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        weights = gates[name]
        for e in range(weights.shape[1]):
            ax.hist(weights[:, e], bins=30, range=(0, 1), alpha=0.5, label=f"expert {e}")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("gate weight")
    axes[0][0].set_ylabel("samples")
    axes[0][-1].legend(fontsize=6)
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
