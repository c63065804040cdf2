"""DML Table 1/2 on MovieLens: {SB, MMoE, PLE} x {plain, +CTFM, +GKD, +DML_v0, +DML}.

The paper's ML-1M protocol (Ren et al., ORSUM@RecSys'23, §3.1), run on the shipped ML-100K
(ML-1M when `movielens-1m/` is supplied): tasks `ctr` (rating >= 4, AUC) and `rating` (MSE);
random 8:1:1 split by `numpy.random.default_rng(split_seed)`; embedding dim 8; towers
(128, 80, 1); GKD layers of 80; Adam 1e-3; batch 512; equal loss weights. Backbones as §3.1.4:
SB one shared layer of 128; MMoE 3 experts of 128; PLE 2 levels of 1 task-specific expert
per task + 1 shared, each of 128. Each run trains up to `--epochs` epochs with early stopping on
the validation loss (patience 1, best weights kept) and reports test AUC, MSE and the exact
consistency ratio (paper §3.2) over all test pairs with different ratings. Every
(backbone, variant) pair sees the same split and the same seeds, so differences are paired.

Usage:

    python examples/dml_movielens.py --quick                       # 1 epoch, 2 seeds, smoke test
    python examples/dml_movielens.py --seeds 5 --epochs 4          # the table
    python examples/dml_movielens.py --backbones ple --variants plain,dml --seeds 10

Writes `<out>/runs.jsonl` (one line per run, resumable: finished runs are skipped) and
`<out>/table.md` (mean ± std over seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

BACKBONES = {
    "shared_bottom": ("SB", {"units": [128]}),
    "mmoe": ("MMoE", {"num_experts": 3, "expert_units": [128]}),
    "ple": (
        "PLE",
        {
            "num_task_experts": 1,
            "num_shared_experts": 1,
            "expert_units": [[128], [128]],
            "num_levels": 2,
        },
    ),
}
VARIANTS = {"plain": "", "ctfm": " + CTFM", "gkd": " + GKD", "dml_v0": " + DML_v0", "dml": " + DML"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--backbones", default=",".join(BACKBONES), help=f"comma list from {list(BACKBONES)}"
    )
    p.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma list from {list(VARIANTS)}"
    )
    p.add_argument(
        "--seeds", type=int, default=5, help="model seeds 0..N-1 per (backbone, variant)"
    )
    p.add_argument(
        "--epochs", type=int, default=4, help="max epochs (early stopping on validation loss)"
    )
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument(
        "--variant-data", default="100k", choices=("100k", "1m"), help="MovieLens variant"
    )
    p.add_argument("--out", default="examples/results/dml_movielens", help="output folder")
    p.add_argument("--quick", action="store_true", help="1 epoch, 2 seeds: proves the script runs")
    p.add_argument(
        "--table-only", action="store_true", help="rewrite table.md from runs.jsonl, train nothing"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.seeds = 1, min(args.seeds, 2)
    args.backbones = [b for b in args.backbones.split(",") if b]
    args.variants = [v for v in args.variants.split(",") if v]
    for name, known, flag in (
        (args.backbones, BACKBONES, "--backbones"),
        (args.variants, VARIANTS, "--variants"),
    ):
        bad = sorted(set(name) - set(known))
        if bad:
            p.error(f"{flag}: unknown {bad}; choose from {list(known)}")
    return args


def run_one(data, backbone: str, variant: str, seed: int, args) -> dict:
    import keras

    from tfmtl.metrics_consistency import consistency_ratio
    from tfmtl.models.dml import build_dml_model
    from tfmtl.training import compile_multitask, early_stopping, evaluate, fit, predict, set_seed

    set_seed(seed)
    keras.backend.clear_session()
    model = build_dml_model(
        backbone, data.spec, data.tasks, variant=variant, **BACKBONES[backbone][1]
    )
    compile_multitask(model, learning_rate=args.learning_rate, jit_compile=False)
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
    report = evaluate(model, data, "test")
    pred = predict(model, data, "test")
    cons = consistency_ratio(data["test"].extras["rating"], pred["ctr"], pred["rating"])
    return {
        "backbone": backbone,
        "variant": variant,
        "seed": seed,
        "auc": report["ctr"]["auc"],
        "logloss": report["ctr"]["logloss"],
        "mse": report["rating"]["mse"],
        "consistency": cons["ratio"],
        "reverse": cons["reverse_ratio"],
        "pairs": cons["pairs"],
        "epochs": len(history.history["loss"]),
        "best_epoch": int(np.argmin(history.history["val_loss"])) + 1,
        "params": int(model.count_params()),
        "train_seconds": round(seconds, 1),
    }


def table(rows: list[dict], backbones, variants, description: str) -> str:
    lines = [
        f"Data: {description}",
        "",
        "| Model | AUC (ctr) | MSE (rating) | Consistency | Reverse | seeds | epochs |",
        "|---|---|---|---|---|---|---|",
    ]
    for b in backbones:
        for v in variants:
            rs = [r for r in rows if r["backbone"] == b and r["variant"] == v]
            if not rs:
                continue
            cells = " | ".join(
                f"{np.mean([r[k] for r in rs]):.4f} ± {np.std([r[k] for r in rs]):.4f}"
                for k in ("auc", "mse", "consistency", "reverse")
            )
            lines.append(
                f"| {BACKBONES[b][0]}{VARIANTS[v]} | {cells} | {len(rs)} | "
                f"{np.mean([r['epochs'] for r in rs]):.1f} |"
            )
    lines += [
        "",
        "mean ± std (population) over seeds; test split; consistency exact over all test pairs "
        "with different ratings (both tasks' predictions in the rating's order); reverse: both in "
        "the opposite order.",
    ]
    lines += [
        "",
        "Paired differences against the plain backbone (same split, same seed): mean ± std "
        "(sample), wins = seeds where the variant is better.",
        "",
        "| Model | Δ AUC | wins | Δ MSE | wins | Δ Consistency | wins |",
        "|---|---|---|---|---|---|---|",
    ]
    by = {(r["backbone"], r["variant"], r["seed"]): r for r in rows}
    for b in backbones:
        for v in variants:
            seeds = sorted(s for (bb, vv, s) in by if bb == b and vv == v and (b, "plain", s) in by)
            if v == "plain" or not seeds:
                continue
            cells = []
            for key, sign in (("auc", 1), ("mse", -1), ("consistency", 1)):
                d = np.array([by[(b, v, s)][key] - by[(b, "plain", s)][key] for s in seeds])
                sd = d.std(ddof=1) if len(d) > 1 else 0.0
                cells += [f"{d.mean():+.4f} ± {sd:.4f}", f"{int((sign * d > 0).sum())}/{len(d)}"]
            lines.append(f"| {BACKBONES[b][0]}{VARIANTS[v]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tfmtl.data import load_movielens

    data = load_movielens(variant=args.variant_data, seed=args.split_seed)
    data.tasks = [
        type(t)(t.name, kind=t.kind, label=t.label, tower_units=(128, 80)) for t in data.tasks
    ]  # towers (128, 80, 1): the 1 is the head
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "runs.jsonl"
    protocol = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "split_seed": args.split_seed,
    }
    done = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    done = [r for r in done if r.get("protocol") == protocol]
    print(data.description, flush=True)
    for seed in range(0 if args.table_only else args.seeds):
        for b in args.backbones:
            for v in args.variants:
                if any(
                    r["backbone"] == b and r["variant"] == v and r["seed"] == seed for r in done
                ):
                    continue
                row = {**run_one(data, b, v, seed, args), "protocol": protocol}
                done.append(row)
                with log.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                print(
                    f"{BACKBONES[b][0]}{VARIANTS[v]:10s} seed {seed}: AUC {row['auc']:.4f} "
                    f"MSE {row['mse']:.4f} cons {row['consistency']:.4f} "
                    f"({row['epochs']} ep, {row['train_seconds']} s)",
                    flush=True,
                )
    text = table(done, args.backbones, args.variants, data.description)
    (out / "table.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
