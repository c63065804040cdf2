"""Expert collapse: how many experts each gate of MMoE and of HoME leaves (nearly) unused.

Trains MMoE and HoME on the same Census-Income rows with the same seed and schedule, reads
every gate with `tfmtl.models.gate_model` on the test rows, and reports per gate
(`tfmtl.metrics.expert_utilisation`): the experts it weighs, how many get a mean weight
below `--threshold` (near zero: collapsed away), the largest mean weight, and the normalised
entropy of the mean weights (1: all experts used equally). Both models have the same number
of experts per level; HoME's gates each see only their hierarchy (HoME §3.3). Writes a
Markdown table (and prints it).

    TFMTL_DATA_DIR=../shared/data python benchmarks/expert_collapse.py --rows 20000 --epochs 2

`--rows` limits every split (a random subset, seeded); 0 keeps them whole.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from tfmtl import training
from tfmtl.data import load_census
from tfmtl.data.dataset import Split
from tfmtl.layers.home import HoME
from tfmtl.layers.mmoe import MMoE
from tfmtl.metrics import expert_utilisation
from tfmtl.models import build_flat, gate_model


def limit_rows(data, rows: int, seed: int):
    """`data` with at most `rows` random rows in each split (all rows when `rows` is 0)."""
    if not rows:
        return data
    rng, splits = np.random.default_rng(seed), {}
    for name, split in data.splits.items():
        keep = np.sort(rng.choice(len(split), min(rows, len(split)), replace=False))
        splits[name] = Split(
            {k: np.asarray(v)[keep] for k, v in split.features.items()},
            {k: np.asarray(v)[keep] for k, v in split.labels.items()},
        )
    return dataclasses.replace(data, splits=splits)


def make_switchers(num_tasks: int, args) -> dict:
    """MMoE and HoME with the same experts per level: E = m_s + T m_g + T m_t for HoME."""
    units = [int(u) for u in args.units.split(",")]
    m_s, m_g, m_t = 2, 1, 1
    total = m_s + num_tasks * (m_g + m_t)
    return {
        "mmoe": lambda: MMoE(num_tasks, total, units, name="mmoe"),
        "home": lambda: HoME(
            num_tasks,
            units,
            task_groups=[[k] for k in range(num_tasks)],  # one category per Census task
            num_experts=[m_s, m_g, m_t],
            feature_gate_rank=args.rank,
            name="home",
        ),
    }


def gate_rows(name: str, usage: dict, threshold: float) -> list[str]:
    rows = []
    for gate, stats in usage.items():
        mean = np.asarray(stats["mean"])
        p = np.clip(mean, 1e-12, 1.0)
        entropy = float(-(p * np.log(p)).sum() / np.log(len(p))) if len(p) > 1 else 1.0
        rows.append(
            f"| {name} | {gate} | {len(mean)} | {int((mean < threshold).sum())} | "
            f"{mean.max():.3f} | {entropy:.3f} | {' '.join(f'{m:.3f}' for m in mean)} |"
        )
    return rows


def run(args) -> str:
    data = limit_rows(load_census(protocol=args.protocol), args.rows, args.seed)
    lines = [
        f"Expert utilisation on Census-Income ({len(data['train'])} train / "
        f"{len(data['test'])} test rows, tasks {[t.name for t in data.tasks]}), seed "
        f"{args.seed}, {args.epochs} epochs, batch {args.batch_size}, lr {args.learning_rate}; "
        f"near zero = mean gate weight < {args.threshold}.",
        "",
        "| model | gate | experts seen | near zero | max mean | entropy | mean weights |",
        "|---|---|---|---|---|---|---|",
    ]
    aucs = []
    for name, make in make_switchers(len(data.tasks), args).items():
        training.set_seed(args.seed)
        model = build_flat(data.spec, data.tasks, make())
        training.compile_multitask(model, learning_rate=args.learning_rate)
        start = time.perf_counter()
        training.fit(model, data, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
        seconds = time.perf_counter() - start
        gates = gate_model(model).predict(data["test"].features, batch_size=4096, verbose=0)
        lines += gate_rows(name, expert_utilisation(gates), args.threshold)
        scores = model.evaluate(
            data["test"].features, data["test"].labels, batch_size=4096, verbose=0, return_dict=True
        )
        auc = ", ".join(f"{k} {v:.4f}" for k, v in sorted(scores.items()) if "auc" in k)
        aucs.append(f"- {name}: test {auc}; trained in {seconds:.0f} s")
    return "\n".join(lines + ["", *aucs, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000, help="rows per split; 0: all")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--units", default="64,32", help="expert widths, comma-separated")
    parser.add_argument("--rank", type=int, default=8, help="HoME feature-gate rank")
    parser.add_argument("--threshold", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--protocol", default=None, help="Census protocol (default: auto)")
    parser.add_argument("--out", default="benchmarks/results/expert_collapse.md")
    args = parser.parse_args()
    table = run(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(table)
    print(table)


if __name__ == "__main__":
    main()
