r"""Loss-balancing strategies against equal and tuned fixed weights: test quality, step-time cost.

Every strategy in `tfmtl.balancing` (`training.loss_balancing`) and a small grid of fixed task
weights (the second task's weight relative to the first) train the same zoo model on the same
split over several seeds; the table gives test AUC (binary tasks) / MSE (regression) mean ±
std, and the median epoch time relative to equal weights. Runs are appended to a JSONL file
keyed by (dataset, model, strategy, seed), so a killed benchmark resumes where it stopped.

    TFMTL_DATA_DIR=../shared/data python benchmarks/loss_balancing.py --dataset census --seeds 5
    python benchmarks/loss_balancing.py --dataset census3 --models mmoe,ple \
        --out benchmarks/BALANCING.md
    python benchmarks/loss_balancing.py --dataset movielens1m --strategies fixed,uncertainty,dwa

Datasets: `census` (income, never_married; published protocol), `census3` (+ education),
`movielens1m` (ctr, rating).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from census import EpochTimer  # noqa: E402 - the benchmarks' shared epoch timer

STRATEGIES = ("fixed", "uncertainty", "dwa", "rlw", "gradnorm", "pcgrad", "metabalance")


def load(dataset: str):
    from tfmtl.data import load_census
    from tfmtl.data.movielens import load_movielens

    if dataset == "census":
        return load_census(protocol="published")
    if dataset == "census3":
        return load_census(tasks=("income", "never_married", "education"), protocol="published")
    if dataset == "movielens1m":
        return load_movielens(variant="1m")
    raise SystemExit(f"--dataset {dataset!r}: choose census, census3 or movielens1m")


def run_one(data, model_name: str, strategy: str, seed: int, args) -> dict:
    """One seed: fit, then the test metric of every task and the median epoch time."""
    import keras

    import tfmtl
    from tfmtl import training

    tasks, balancing = list(data.tasks), strategy
    if strategy.startswith("fixed:"):  # fixed:W = the second task's weight is W
        weight = float(strategy.split(":")[1])
        tasks = [tasks[0], dataclasses.replace(tasks[1], loss_weight=weight), *tasks[2:]]
        balancing = "fixed"
    training.set_seed(seed)
    model = tfmtl.models.build_model(model_name, data.spec, tasks)
    steps = args.epochs * -(-len(data["train"]) // args.batch_size)
    optimizer = keras.optimizers.AdamW(
        keras.optimizers.schedules.CosineDecay(args.learning_rate, steps, alpha=0.05),
        weight_decay=args.weight_decay,
    )
    training.compile_multitask(model, optimizer=optimizer, loss_balancing=balancing)
    timer = EpochTimer()
    history = training.fit(
        model,
        data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=seed,
        callbacks=[timer],
        verbose=0,
    ).history
    report = training.evaluate(model, data, "test")
    steady = timer.seconds[1:] or timer.seconds
    return {
        "metric": {
            t.name: report[t.name]["auc" if t.kind == "binary" else "mse"] for t in model.tasks
        },
        "epoch_seconds": float(np.median(steady)),
        "final_weights": {t.name: history[f"loss_weight/{t.name}"][-1] for t in model.tasks},
    }


def table(runs: dict, tasks, kinds) -> str:
    base = (
        np.median([r["epoch_seconds"] for r in runs.get("fixed", [])]) if "fixed" in runs else None
    )
    head = (
        "| strategy | "
        + " | ".join(f"{t} {'AUC' if k == 'binary' else 'MSE'}" for t, k in zip(tasks, kinds))
        + " | epoch s | vs equal weights | final weights | seeds |"
    )
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, results in runs.items():
        cells = []
        for t in tasks:
            values = [r["metric"][t] for r in results]
            cells.append(f"{np.mean(values):.4f} ± {np.std(values):.4f}")
        seconds = np.median([r["epoch_seconds"] for r in results])
        cost = f"{seconds / base:.2f}x" if base else "-"
        weights = ", ".join(
            f"{np.mean([r['final_weights'][t] for r in results]):.2f}" for t in tasks
        )
        rows.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {seconds:.1f} | {cost} | {weights} | {len(results)} |"
        )
    return "\n".join(rows)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="census", choices=("census", "census3", "movielens1m"))
    p.add_argument("--models", default="mmoe")
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument(
        "--grid", default="0.5,2", help="fixed weights of the second task (relative to the first)"
    )
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--learning-rate", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=1e-2)
    p.add_argument(
        "--runs",
        default="benchmarks/results/loss_balancing.jsonl",
        help="JSONL of finished runs (resume)",
    )
    p.add_argument("--out", default=None, help="write the Markdown report here")
    return p.parse_args(argv)


def read_runs(runs_file: Path) -> dict:
    """Finished runs on file, keyed by (dataset, model, strategy, seed, epochs, batch_size)."""
    done = {}
    if runs_file.is_file():
        for line in runs_file.read_text().splitlines():
            r = json.loads(line)
            done[
                (r["dataset"], r["model"], r["strategy"], r["seed"], r["epochs"], r["batch_size"])
            ] = r
    return done


def model_runs(data, model_name: str, strategies: list[str], done: dict, args) -> dict:
    """Every seed of every strategy for `model_name`; runs not in `done` train and are appended."""
    runs_file = Path(args.runs)
    runs = {}
    for strategy in strategies:
        runs[strategy] = []
        for seed in range(args.seeds):
            key = (args.dataset, model_name, strategy, seed, args.epochs, args.batch_size)
            if key not in done:
                start = time.time()
                result = run_one(data, model_name, strategy, seed, args)
                done[key] = {
                    "dataset": args.dataset,
                    "model": model_name,
                    "strategy": strategy,
                    "seed": seed,
                    "epochs": args.epochs,
                    "batch_size": args.batch_size,
                    **result,
                }
                with runs_file.open("a") as f:
                    f.write(json.dumps(done[key]) + "\n")
                print(
                    f"[balancing] {model_name} {strategy} seed {seed} "
                    f"({time.time() - start:.0f} s): {json.dumps(result['metric'])}",
                    flush=True,
                )
            runs[strategy].append(done[key])
    return runs


def render_report(data, reports: list[str], command: str, args) -> str:
    """The Markdown report: how it was run, then one table per model."""
    load_avg = os.getloadavg()[0]
    return "\n".join(
        [
            f"## Loss balancing on {args.dataset}",
            "",
            f"`{command}` on {platform.machine()}, {os.cpu_count()} cores (load average at the "
            f"end {load_avg:.1f}); {data.description}; {args.epochs} epochs, batch "
            f"{args.batch_size}, AdamW {args.learning_rate} with cosine decay; test metric "
            f"mean ± std over {args.seeds} seeds; `fixed:W` weights the second task W; epoch s "
            "is the median training time of an epoch after the first; final weights are the "
            "`loss_weight/<task>` logged at the last epoch.",
            "",
            *reports,
        ]
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    command = "python benchmarks/loss_balancing.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    data = load(args.dataset)
    tasks, kinds = [t.name for t in data.tasks], [t.kind for t in data.tasks]
    strategies = args.strategies.split(",") + [f"fixed:{w}" for w in args.grid.split(",") if w]
    runs_file = Path(args.runs)
    runs_file.parent.mkdir(parents=True, exist_ok=True)
    done = read_runs(runs_file)
    print(f"[balancing] {data.description}; {len(done)} runs on file", flush=True)
    reports = []
    for model_name in args.models.split(","):
        runs = model_runs(data, model_name, strategies, done, args)
        reports.append(f"### {model_name}\n\n{table(runs, tasks, kinds)}\n")
    report = render_report(data, reports, command, args)
    print(report, flush=True)
    if args.out:
        Path(args.out).write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
