"""AdaTT Table 5 on Census-Income (KDD), 3 tasks: ML-MMoE vs PLE vs AdaTT with 2-level fusion.

The paper's protocol (Li et al., KDD'23, §4.3): tasks income > 50K, never married, education
at least college (`load_dataset("census3")`: every label's source column removed from the
inputs); 2 fusion levels of single-layer experts, 6 experts per level of (128, 64) or 9 of
(96, 48); task towers of one hidden layer of 32; the shared-expert count m_s tuned for PLE
and AdaTT, task-specific experts per task = (total - m_s) / 3; everything else equal. The
paper reports the mean test AUC of 100 initialisations; here mean ± std over `--seeds`.

m_s is tuned on the validation split (mean validation AUC over the three tasks, averaged over
`--tune-seeds` seeds); `--no-tune` takes the paper's choice for AdaTT (AdaTT-sp, m_s = 0, per
Table 5's caption) and m_s = 3 for PLE. Each run trains up to `--epochs` epochs (Adam,
`--learning-rate`, batch `--batch-size`, equal loss weights) with early stopping on the
validation loss (patience 1, best weights kept).

Usage:

    python examples/adatt_census.py --quick                      # 6-expert group, 2 seeds, 2 epochs
    nice -n 10 python examples/adatt_census.py --seeds 5         # the table (both groups)

Writes `<out>/runs.jsonl` (resumable: finished runs are skipped) and `<out>/table.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

# The protocol's definitions live in the package, shared with `tfmtl reproduce adatt-census`.
from tfmtl.reproduce.adatt_census import (
    GROUPS,
    LABELS,
    PAPER,
    PAPER_SHARED,
    TASKS,
    candidates,
    hparams,
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--groups", default="6,9", help="comma list of total experts per level, from 6,9"
    )
    p.add_argument(
        "--models", default="ml_mmoe,ple,adatt", help="comma list from ml_mmoe,ple,adatt"
    )
    p.add_argument("--seeds", type=int, default=5, help="model seeds 0..N-1 per (group, model)")
    p.add_argument("--tune-seeds", type=int, default=1, help="seeds per m_s candidate when tuning")
    p.add_argument(
        "--no-tune", action="store_true", help="AdaTT m_s=0 (AdaTT-sp), PLE m_s=3, no tuning runs"
    )
    p.add_argument(
        "--epochs", type=int, default=10, help="max epochs (early stopping on validation loss)"
    )
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument(
        "--dense-encoding",
        default="bucket",
        choices=("bucket", "piecewise_linear"),
        help="encoding of the dense columns' quantiles (DenseFeature.encoding)",
    )
    p.add_argument("--out", default="examples/results/adatt_census", help="output folder")
    p.add_argument(
        "--quick", action="store_true", help="6-expert group, 2 seeds, 2 epochs, no tuning"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.groups, args.seeds, args.epochs, args.no_tune = (
            "6",
            min(args.seeds, 2),
            min(args.epochs, 2),
            True,
        )
    args.groups = [int(g) for g in args.groups.split(",") if g]
    args.models = [m for m in args.models.split(",") if m]
    if set(args.groups) - set(GROUPS):
        p.error(f"--groups: choose from {sorted(GROUPS)}; got {args.groups}")
    if set(args.models) - set(LABELS):
        p.error(f"--models: choose from {sorted(LABELS)}; got {args.models}")
    return args


def run_one(data, model_name: str, total: int, shared: int, seed: int, args) -> dict:
    import keras

    from tfmtl.models import build_model
    from tfmtl.training import compile_multitask, early_stopping, evaluate, fit, set_seed

    set_seed(seed)
    keras.backend.clear_session()
    model = build_model(model_name, data.spec, data.tasks, **hparams(model_name, total, shared))
    compile_multitask(model, learning_rate=args.learning_rate)
    start = time.time()
    history = fit(
        model,
        data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=seed,
        callbacks=[early_stopping(1)],
        verbose=0,
    )
    seconds = time.time() - start
    test, val = evaluate(model, data, "test"), evaluate(model, data, "validation")
    return {
        "model": model_name,
        "total": total,
        "shared": shared,
        "seed": seed,
        "test_auc": [test[t]["auc"] for t in TASKS],
        "val_auc": [val[t]["auc"] for t in TASKS],
        "epochs": len(history.history["loss"]),
        "params": int(model.count_params()),
        "train_seconds": round(seconds, 1),
    }


def table(rows, groups, models, chosen, seeds, description) -> str:
    lines = [
        f"Data: {description}",
        "",
        "| Model | total experts | expert hidden | tower | m_s | income AUC | never married AUC "
        "| education AUC | seeds | paper (Table 5) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for total in groups:
        for m in models:
            ms = chosen[(total, m)]
            rs = [
                r
                for r in rows
                if r["model"] == m
                and r["total"] == total
                and r["shared"] == ms
                and r["seed"] < seeds
            ]
            if not rs:
                continue
            auc = np.asarray([r["test_auc"] for r in rs])
            cells = " | ".join(f"{auc[:, k].mean():.4f} ± {auc[:, k].std():.4f}" for k in range(3))
            units = ", ".join(str(u[0]) for u in GROUPS[total][0])
            paper = " / ".join(f"{v:.4f}" for v in PAPER[(total, m)])
            shared = ms if m != "ml_mmoe" else "-"
            lines.append(
                f"| {LABELS[m]} | {total} | {units} | 32 | {shared} | {cells} | {len(rs)} "
                f"| {paper} |"
            )
    lines += [
        "",
        "mean ± std (population) over seeds of the test AUC; m_s chosen on the validation split "
        "(runs.jsonl: role 'tune'); a tuning run of the chosen m_s is reused as that seed.",
    ]
    return "\n".join(lines) + "\n"


class RunLog:
    """The runs of one protocol in `runs.jsonl`: `run` trains and appends only what is missing.

    Args:
        path: Path. The JSONL file; runs of another protocol in it are ignored.
        protocol: dict. The training settings every run of the table shares.
        data: MultiTaskData. The census3 splits.
        args: argparse.Namespace. The command line (epochs, batch size, learning rate).
    """

    def __init__(self, path: Path, protocol: dict, data, args) -> None:
        self.path, self.protocol, self.data, self.args = path, protocol, data, args
        done = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        self.done = [r for r in done if r.get("protocol") == protocol]

    def run(self, model: str, total: int, shared: int, seed: int, role: str) -> dict:
        """The run of `model` with `total` experts, `shared` of them shared, at `seed`."""
        for r in self.done:
            if (r["model"], r["total"], r["shared"], r["seed"]) == (model, total, shared, seed):
                return r
        row = {
            **run_one(self.data, model, total, shared, seed, self.args),
            "protocol": self.protocol,
            "role": role,
        }
        self.done.append(row)
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(
            f"[{role}] {LABELS[model]:8s} {total} experts m_s={shared} seed {seed}: test AUC "
            f"{' '.join(f'{a:.4f}' for a in row['test_auc'])} val {np.mean(row['val_auc']):.4f} "
            f"({row['epochs']} ep, {row['train_seconds']} s)",
            flush=True,
        )
        return row


def choose_shared(runs: RunLog, args) -> dict:
    """m_s per (total experts, model): the best mean validation AUC, or the paper's choice."""
    chosen = {}
    for total in args.groups:
        for m in args.models:
            options = candidates(m, total)
            if args.no_tune or len(options) == 1:
                chosen[(total, m)] = PAPER_SHARED[m]
                continue
            score = {
                ms: np.mean(
                    [
                        np.mean(runs.run(m, total, ms, s, "tune")["val_auc"])
                        for s in range(args.tune_seeds)
                    ]
                )
                for ms in options
            }
            chosen[(total, m)] = max(score, key=score.get)
            print(
                f"{LABELS[m]} {total} experts: validation AUC by m_s {score} "
                f"-> m_s={chosen[(total, m)]}",
                flush=True,
            )
    return chosen


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tfmtl.data import load_dataset
    from tfmtl.tasks import Task

    data = load_dataset("census3", dense_encoding=args.dense_encoding)
    data.tasks = [Task(**{**t.to_config(), "tower_units": [32]}) for t in data.tasks]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    protocol = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        # Runs logged under another dense encoding, or plain quantiles, are not reused.
        "dense": f"{args.dense_encoding} on spike-aware quantiles",
    }
    runs = RunLog(out / "runs.jsonl", protocol, data, args)
    print(data.description, flush=True)
    chosen = choose_shared(runs, args)
    for seed in range(args.seeds):
        for total in args.groups:
            for m in args.models:
                runs.run(m, total, chosen[(total, m)], seed, "test")
    text = table(runs.done, args.groups, args.models, chosen, args.seeds, data.description)
    (out / "table.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
