"""ESMM's entire-space effect on a click -> conversion funnel (and AITM on the same data).

The CVR model is applied to every impression, but a naive CVR head only ever sees clicked
ones (sample selection bias), and conversions are sparse (click ~5%, CVR among clicks ~3.5%).
ESMM (Ma et al., SIGIR'18) trains pCTR and pCTCVR = pCTR × pCVR over all impressions, so the
CVR tower is fitted through the product on the entire space. The generator
(`tfmtl.data.funnel`) also draws, for every impression, whether it *would* have converted had
it been clicked (`cvr_if_clicked`), so the CVR heads can be scored where they are used:

- CVR AUC on all impressions, against that counterfactual label (the entire space);
- CVR AUC on clicked impressions, against the observed conversion (the usual, biased view);
- CTCVR AUC on all impressions (pCTR × pCVR against click AND conversion).

Variants (same network: shared embeddings, a CTR tower and a CVR tower, pCTCVR product):

- `esmm`: CTR + CTCVR losses on all impressions; CVR learns through the product only.
- `naive_shared`: CTR loss on all impressions, CVR loss on clicked impressions only.
- `naive`: CVR loss on clicked impressions only (ESMM's BASE: a CVR model alone).
- `aitm`: AITM (Xi et al., KDD'21): click then conversion-on-impression, AIT transfer and the
  calibrator (α = 0.6); its conversion head is a CTCVR, so its CVR column is pCTCVR / pCTR.

Usage:

    python examples/esmm_funnel.py --quick                       # 60k impressions, 1 seed, 3 epochs
    nice -n 10 python examples/esmm_funnel.py --seeds 3          # 300k impressions, 3 seeds

Adam (3e-3), batch 256, equal loss weights, up to 8 epochs with early stopping (patience 2,
best weights kept): the id embeddings overfit after a few epochs. Every variant with a CVR head
stops on its validation CVR AUC on clicked impressions (what a real log can score); AITM, whose
CVR is pCTCVR / pCTR, on its CTCVR AUC (`MONITOR`). Not on the summed validation loss: for
ESMM that is ~95% CTR loss, which stops improving an epoch or two before ESMM's CVR tower (it
learns only through pCTR × pCVR, from ~0.5 conversions per batch) has learnt, and froze it
undertrained. Nor on ESMM's CTCVR AUC: early on that mostly ranks clicks. Writes
`<out>/runs.jsonl` (resumable) and `<out>/table.md` (mean ± std over seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

VARIANTS = {
    "esmm": "ESMM (CTR + CTCVR, entire space)",
    "naive_shared": "Naive: CVR on clicks, embeddings shared with CTR",
    "naive": "Naive: CVR model alone, on clicks (ESMM's BASE)",
    "aitm": "AITM (click -> conversion, calibrator 0.6)",
}
WEIGHTS = {
    "esmm": (1.0, 0.0, 1.0),
    "naive_shared": (1.0, 1.0, 0.0),
    "naive": (0.0, 1.0, 0.0),
}  # ctr, cvr, ctcvr
MONITOR = {
    "esmm": "val_cvr_auc",
    "naive_shared": "val_cvr_auc",
    "naive": "val_cvr_auc",
    "aitm": "val_ctcvr_auc",
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma list from {list(VARIANTS)}"
    )
    p.add_argument("--rows", type=int, default=300_000, help="impressions generated")
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--seeds", type=int, default=3, help="model seeds 0..N-1 per variant")
    p.add_argument("--epochs", type=int, default=8, help="max epochs (early stopping, see MONITOR)")
    p.add_argument(
        "--patience",
        type=int,
        default=2,
        help="epochs without a better monitored AUC before stopping",
    )
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--learning-rate", type=float, default=3e-3)
    p.add_argument("--out", default="examples/results/esmm_funnel", help="output folder")
    p.add_argument("--quick", action="store_true", help="60k impressions, 1 seed, 3 epochs")
    args = p.parse_args(argv)
    if args.quick:
        args.rows, args.seeds, args.epochs = (
            min(args.rows, 60_000),
            min(args.seeds, 1),
            min(args.epochs, 3),
        )
    args.variants = [v for v in args.variants.split(",") if v]
    bad = sorted(set(args.variants) - set(VARIANTS))
    if bad:
        p.error(f"--variants: unknown {bad}; choose from {list(VARIANTS)}")
    return args


def build(variant: str, data):
    from tfmtl.data.funnel import select_tasks
    from tfmtl.models import build_aitm, build_esmm

    if variant == "aitm":
        data = select_tasks(data, ["ctr", "ctcvr"])
        return build_aitm(data.spec, data.tasks, bottoms=(64, 32), calibrator_weight=0.6), data
    # WEIGHTS[variant] is (ctr, cvr, ctcvr), the order of build_esmm's loss_weights.
    model = build_esmm(data.spec, data.tasks, loss_weights=WEIGHTS[variant])
    return model, data


def run_one(data, variant: str, seed: int, args) -> dict:
    import keras

    from tfmtl.reproduce.esmm_funnel import funnel_scores
    from tfmtl.training import compile_multitask, fit, predict, set_seed

    set_seed(seed)
    keras.backend.clear_session()
    model, train_data = build(variant, data)
    compile_multitask(model, learning_rate=args.learning_rate)
    start = time.time()
    stop = keras.callbacks.EarlyStopping(
        monitor=MONITOR[variant], mode="max", patience=args.patience, restore_best_weights=True
    )
    history = fit(
        model,
        train_data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=seed,
        callbacks=[stop],
        verbose=0,
    )
    seconds = time.time() - start
    p = predict(model, train_data, "test")
    return {
        "variant": variant,
        "seed": seed,
        **funnel_scores(data, p, ctr_trained=variant != "naive"),
        "epochs": len(history.history["loss"]),
        "best_epoch": int(np.argmax(history.history[MONITOR[variant]])) + 1,
        "train_seconds": round(seconds, 1),
    }


def table(rows, variants, description) -> str:
    lines = [
        f"Data: {description}",
        "",
        "| Model | CVR AUC, all impressions (counterfactual) | CVR AUC, clicked | CTCVR AUC "
        "| CTR AUC | best epoch | seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in variants:
        rs = [r for r in rows if r["variant"] == v]
        if not rs:
            continue

        def cell(k):
            vals = np.asarray([r[k] for r in rs], dtype=float)
            return (
                "-" if np.isnan(vals).all() else f"{np.nanmean(vals):.4f} ± {np.nanstd(vals):.4f}"
            )

        cells = " | ".join(
            cell(k) for k in ("cvr_auc_all", "cvr_auc_clicked", "ctcvr_auc", "ctr_auc")
        )
        best_epochs = " ".join(str(r.get("best_epoch", "?")) for r in rs)
        lines.append(f"| {VARIANTS[v]} | {cells} | {best_epochs} | {len(rs)} |")
    lines += [
        "",
        "mean ± std (population) over model seeds; test split. CTCVR = pCTR × pCVR against click "
        "AND conversion on every impression; '-': the variant has no trained CTR head; best epoch: "
        "the epoch whose weights were kept, per seed.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tfmtl.data.funnel import load_funnel

    data = load_funnel(rows=args.rows, seed=args.data_seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "runs.jsonl"
    protocol = {
        "rows": args.rows,
        "data_seed": args.data_seed,
        "epochs": args.epochs,
        "patience": args.patience,
        "monitor": MONITOR,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
    }
    done = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    done = [r for r in done if r.get("protocol") == protocol]
    print(data.description, flush=True)
    for seed in range(args.seeds):
        for v in args.variants:
            if any(r["variant"] == v and r["seed"] == seed for r in done):
                continue
            row = {**run_one(data, v, seed, args), "protocol": protocol}
            done.append(row)
            with log.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(
                f"{v:13s} seed {seed}: CVR AUC all {row['cvr_auc_all']:.4f} "
                f"clicked {row['cvr_auc_clicked']:.4f} CTCVR {row['ctcvr_auc']:.4f} "
                f"(best epoch {row['best_epoch']} of {row['epochs']}, "
                f"{row['train_seconds']} s)",
                flush=True,
            )
    text = table([r for r in done if r["seed"] < args.seeds], args.variants, data.description)
    (out / "table.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
