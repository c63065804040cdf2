"""ESMM vs AITM vs ESCM²-IPS vs ESCM²-DR on the generated click -> conversion funnel.

The funnel (`tfmtl.data.load_funnel`) knows what a log never shows: `cvr_if_clicked`, the
conversion every impression would have had if clicked, and `p_convert`, its probability.
Per model and seed, on the test split:

- CVR AUC (entire space): the CVR score against `cvr_if_clicked` on every impression;
- CVR AUC (clicks): against the observed conversion on clicked impressions;
- CTCVR AUC: pCTCVR against click-and-convert on every impression;
- CVR bias: mean pCVR minus mean `p_convert` over every impression (ESCM²'s "inherent
  estimation bias" of ESMM is a positive one).

AITM has no CVR head; its CVR score is pCTCVR / pCTR. Writes a Markdown table (mean ± std
over seeds):

    TFMTL_DATA_DIR=../shared/data python benchmarks/escm2_funnel.py --rows 100000 --seeds 3 \
        --epochs 3 --output benchmarks/results/escm2_funnel.md
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tfmtl import metrics, training
from tfmtl.data import load_funnel
from tfmtl.data.funnel import select_tasks
from tfmtl.models.escm2 import build_escm2
from tfmtl.models.sequential import build_aitm, build_esmm
from tfmtl.tasks import Task

MODELS = ("esmm", "aitm", "escm2_ips", "escm2_dr")
COLUMNS = ("cvr_auc_entire", "cvr_auc_clicks", "ctcvr_auc", "cvr_bias")


def _tasks(data, units):
    return [Task(**{**t.to_config(), "tower_units": list(units)}) for t in data.tasks]


def build(name: str, data, units):
    """The model `name` and the data it trains on (AITM: ctr -> ctcvr only)."""
    tasks = _tasks(data, units)
    if name == "esmm":
        return build_esmm(data.spec, tasks), data
    if name == "aitm":
        return build_aitm(data.spec, [tasks[0], tasks[2]], bottoms=list(units)), select_tasks(
            data, ["ctr", "ctcvr"]
        )
    risk = name.split("_")[1]
    return build_escm2(data.spec, tasks, risk=risk, imputation_units=list(units)), data


def score(pred: dict, data) -> dict:
    """The four columns on the test split from the model's `pred` (task -> `[N]`)."""
    oracle, labels = data.oracle["test"], data["test"].labels
    p_cvr = pred["cvr"] if "cvr" in pred else pred["ctcvr"] / np.maximum(pred["ctr"], 1e-7)
    clicked = labels["ctr"] == 1
    return {
        "cvr_auc_entire": metrics.auc(oracle["cvr_if_clicked"], p_cvr),
        "cvr_auc_clicks": metrics.auc(labels["ctcvr"][clicked], p_cvr[clicked]),
        "ctcvr_auc": metrics.auc(labels["ctcvr"], pred["ctcvr"]),
        "cvr_bias": float(np.mean(p_cvr) - np.mean(oracle["p_convert"])),
    }


def run(rows: int, seeds: int, epochs: int, units, batch_size: int, learning_rate: float) -> dict:
    """Model -> column -> list of per-seed values."""
    results = {m: {c: [] for c in COLUMNS} for m in MODELS}
    for seed in range(seeds):
        data = load_funnel(rows=rows, seed=seed)
        for name in MODELS:
            training.set_seed(seed)
            model, train_data = build(name, data, units)
            training.compile_multitask(model, learning_rate=learning_rate)
            start = time.time()
            training.fit(model, train_data, epochs=epochs, batch_size=batch_size, verbose=0)
            pred = training.predict(model, train_data, "test")
            for column, value in score(pred, data).items():
                results[name][column].append(value)
            print(f"seed {seed} {name}: {time.time() - start:.0f}s", flush=True)
    return results


def table(results: dict, header: str) -> str:
    lines = [header, "", "| model | " + " | ".join(COLUMNS) + " |", "|---" * 5 + "|"]
    for name, columns in results.items():
        cells = [f"{np.mean(v):.4f} ± {np.std(v):.4f}" for v in columns.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--units", type=int, nargs="+", default=[32])
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--output", default="benchmarks/results/escm2_funnel.md")
    args = parser.parse_args(argv)
    results = run(
        args.rows, args.seeds, args.epochs, args.units, args.batch_size, args.learning_rate
    )
    header = (
        f"# ESCM² on the funnel: {args.rows:,} rows, {args.seeds} seeds, {args.epochs} epochs, "
        f"towers {args.units}, batch {args.batch_size}, learning rate {args.learning_rate} "
        "(test split, mean ± std over seeds)"
    )
    text = table(results, header)
    with open(args.output, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
