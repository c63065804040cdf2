"""Census-Income (KDD) quality benchmark: single-task, Shared-Bottom, MMoE, PLE over seeds.

Writes a Markdown table of test AUC (mean ± std over seeds), MTL gain (PLE eq 11, against the
single-task model) and training throughput (samples/s, epochs after the first, which traces).

    TFMTL_DATA_DIR=../shared/data python benchmarks/census.py --seeds 3 --protocol published
"""

from __future__ import annotations

import argparse
import json
import os
import platform

import keras
import numpy as np

import tfmtl
from tfmtl import metrics, training
from tfmtl.callbacks import EpochTimer
from tfmtl.data import load_census


def run_one(data, model_name: str, seed: int, args) -> dict:
    """Trains one seed of `model_name` on the command line's schedule; its test AUCs and speed."""
    training.set_seed(seed)
    with training.dtype_policy(args.precision):
        model = tfmtl.models.build_model(
            model_name, data.spec, data.tasks, **json.loads(args.hparams)
        )
    steps = args.epochs * -(-len(data["train"]) // args.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate, steps, alpha=0.05)
    optimizer = keras.optimizers.AdamW(
        schedule,
        weight_decay=args.weight_decay,
        use_ema=args.ema > 0,
        ema_momentum=args.ema or 0.99,
    )
    training.compile_multitask(model, optimizer=optimizer)
    timer = EpochTimer()
    training.fit(
        model,
        data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=seed,
        callbacks=[timer, *([training.early_stopping(args.patience)] if args.patience else [])],
        verbose=0,
    )
    report = training.evaluate(model, data, "test")
    steady = timer.seconds[1:] or timer.seconds
    return {
        "auc": {t: report[t]["auc"] for t in report},
        "samples_per_s": len(data["train"]) / float(np.median(steady)),
        "epochs": len(timer.seconds),
    }


def table(results: dict, tasks: list[str]) -> str:
    single = (
        {t: np.mean([r["auc"][t] for r in results["single_task"]]) for t in tasks}
        if "single_task" in results
        else None
    )
    head = "| model | " + " | ".join(f"{t} AUC" for t in tasks)
    head += (" | " + " | ".join(f"{t} MTL gain" for t in tasks)) if single else ""
    head += " | train samples/s | epochs |"
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, runs in results.items():
        aucs = {t: [r["auc"][t] for r in runs] for t in tasks}
        cells = [f"{np.mean(aucs[t]):.4f} ± {np.std(aucs[t]):.4f}" for t in tasks]
        if single:
            cells += [f"{metrics.mtl_gain(np.mean(aucs[t]), single[t]):+.4f}" for t in tasks]
        speed = np.median([r["samples_per_s"] for r in runs])
        cells += [f"{speed:,.0f}", "/".join(str(r["epochs"]) for r in runs)]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--models", default="single_task,shared_bottom,mmoe,ple")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument(
        "--patience",
        type=int,
        default=None,
        help="early stopping on validation loss (off by default)",
    )
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument(
        "--learning-rate", type=float, default=1e-3, help="AdamW peak rate, cosine-decayed to 5%%"
    )
    p.add_argument("--weight-decay", type=float, default=1e-2)
    p.add_argument(
        "--ema",
        type=float,
        default=0.0,
        help="evaluate an exponential moving average of the weights (momentum; 0 = off)",
    )
    p.add_argument("--embedding-dim", type=int, default=8)
    p.add_argument(
        "--dense-encoding",
        default="bucket",
        choices=("bucket", "piecewise_linear"),
        help="how the dense columns' training quantiles are encoded (DenseFeature.encoding)",
    )
    p.add_argument(
        "--precision",
        default="float32",
        choices=("float32", "mixed_bfloat16"),
        help="Keras dtype policy of the models (weights and heads stay float32)",
    )
    p.add_argument(
        "--num-buckets", type=int, default=255, help="training quantiles per dense column"
    )
    p.add_argument(
        "--hparams",
        default="{}",
        help="JSON of zoo hyper-parameters, applied to every model in --models",
    )
    p.add_argument(
        "--protocol",
        default=None,
        choices=("published", "test-only"),
        help="Census split (default: published when census-income.data.gz is present)",
    )
    p.add_argument("--out", default=None, help="write the Markdown report here")
    return p.parse_args()


def render_report(data, results: dict, tasks: list[str], args: argparse.Namespace) -> str:
    """The Markdown report: how it was run, then the table of every model's seeds."""
    load = os.getloadavg()
    command = (
        f"python benchmarks/census.py --seeds {args.seeds} --epochs {args.epochs} "
        f"--patience {args.patience} --batch-size {args.batch_size} "
        f"--learning-rate {args.learning_rate} --weight-decay {args.weight_decay} "
        f"--ema {args.ema} --protocol {args.protocol} --num-buckets {args.num_buckets} "
        f"--hparams '{args.hparams}' --embedding-dim {args.embedding_dim} "
        f"--dense-encoding {args.dense_encoding} --precision {args.precision}"
    )
    return "\n".join(
        [
            "# Census-Income (KDD) benchmark",
            "",
            f"Data: {data.description}.",
            f"Run: `{command}` on {platform.machine()}, {os.cpu_count()} cores (load average at "
            f"the end {load[0]:.1f}); zoo default hyper-parameters; AdamW with cosine decay; "
            "test AUC mean ± std over seeds.",
            "",
            table(results, tasks),
            "",
            "Reference on the same split: `benchmarks/census_gbdt.py` "
            "(scikit-learn HistGradientBoosting).",
            "",
        ]
    )


def main() -> None:
    args = parse_args()
    data = load_census(
        embedding_dim=args.embedding_dim,
        dense_encoding=args.dense_encoding,
        protocol=args.protocol,
        num_buckets=args.num_buckets,
    )
    tasks = [t.name for t in data.tasks]
    print(f"[census] {data.description}", flush=True)
    results = {}
    for name in args.models.split(","):
        results[name] = []
        for seed in range(args.seeds):
            r = run_one(data, name, seed, args)
            results[name].append(r)
            print(f"[census] {name} seed {seed}: " + json.dumps(r), flush=True)
    report = render_report(data, results, tasks, args)
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)


if __name__ == "__main__":
    main()
