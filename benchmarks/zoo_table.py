r"""The zoo's quality table: registry model configs x datasets x seeds, one schedule for all.

Each `--models` item is a run config's `model:` section (a family name, or JSON/YAML:
`'{"family": "ple", "num_levels": 1}'`), built with `tfmtl.models.registry.build`; each
`--datasets` item is a run config's `data:` section (a built-in name such as `census`, a
mapping such as `'{dataset: synthetic, rows: 5000}'`, or a run config file whose `data:` is
used), loaded as `tfmtl train` loads it (`tfmtl.config` -> `tfmtl.data.run_data`). Every
(dataset, config, seed) trains on the same schedule (AdamW, cosine decay to 5%, as
examples/configs/census.yaml) and writes one Markdown table per dataset: test AUC per task
(MSE for regression tasks) mean ± std over seeds, parameter count and training samples/s
(median over the epochs after the first, which traces). Finished runs are appended to a JSONL
file keyed by (dataset, resolved model config, seed, schedule): a rerun skips them.

    TFMTL_DATA_DIR=../shared/data python benchmarks/zoo_table.py --models mmoe ple \
        --datasets census --seeds 2 --out benchmarks/results/zoo
    python benchmarks/zoo_table.py --quick --models mmoe ple --datasets census --out /tmp/zoo

Datasets by name: census (income, never_married; the published protocol when
census-income.data.gz is present), census3 (+ education), movielens1m, ... (`tfmtl datasets`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from census import EpochTimer  # noqa: E402 - the benchmarks' shared epoch timer

# --quick: a smoke run for tests, without the per-epoch validation (its trace is the slow part)
QUICK = {"rows": 300, "eval_rows": 1000, "epochs": 1, "validate": False}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--models", nargs="+", default=["mmoe", "ple"], help="model: sections")
    p.add_argument("--datasets", nargs="+", default=["census"], help="data: sections")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1 of every run")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--learning-rate", type=float, default=1e-3, help="AdamW peak rate")
    p.add_argument("--weight-decay", type=float, default=1e-2)
    p.add_argument("--rows", type=int, default=None, help="cap the training rows (quick runs)")
    p.add_argument("--out", default="benchmarks/results/zoo", help="folder: Markdown + JSONL")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK['rows']} training rows, {QUICK['eval_rows']} test rows, "
        f"{QUICK['epochs']} epoch, no validation",
    )
    args = p.parse_args(argv)
    if args.seeds < 1 or args.epochs < 1 or args.batch_size < 1:
        p.error("--seeds, --epochs and --batch-size must be >= 1")
    if args.rows is not None and args.rows < 1:
        p.error(f"--rows must be >= 1; got {args.rows}")
    return args


def schedule(args) -> dict:
    """What every run trains with; part of each result's key, so a changed flag reruns."""
    quick = QUICK if args.quick else {}
    return {
        "epochs": quick.get("epochs", args.epochs),
        "batch_size": args.batch_size,
        "optimizer": "adamw",
        "learning_rate": args.learning_rate,
        "weight_decay": args.weight_decay,
        "schedule": "cosine",
        "rows": quick.get("rows", args.rows),
        "eval_rows": quick.get("eval_rows"),
        "validate": quick.get("validate", True),
    }


def model_config(text: str) -> tuple[str, dict]:
    """`--models` item -> (its label in the table, the resolved config)."""
    import yaml

    from tfmtl.models import registry

    value = yaml.safe_load(text)
    resolved = registry.resolve(value)
    label = value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "))
    return label, resolved


def data_section(text: str) -> dict:
    """`--datasets` item -> a run config's `data:` section."""
    import yaml

    if text.endswith((".yaml", ".yml")):
        from tfmtl.config import load_config

        return load_config(text)["data"]
    value = yaml.safe_load(text)
    return {"dataset": value} if isinstance(value, str) else value


def load(section: dict, sched: dict):
    """The data as `tfmtl train` reads it, training rows capped at `sched["rows"]`.

    With `sched["validate"]` false the validation split is dropped, so `fit` skips it.
    """
    from tfmtl.config import parse_config
    from tfmtl.data.run_data import load_run_data

    config = parse_config(json.dumps({"data": section}), source="--datasets")
    data, _ = load_run_data(config)
    _cap(data, "train", sched["rows"])
    if not sched["validate"]:
        data.splits.pop("validation", None)
    for split in ("validation", "test"):
        _cap(data, split, sched["eval_rows"])
    return data


def _cap(data, split: str, rows: int | None) -> None:
    """Keep `rows` of `split`, the same ones for every seed and model (numpy seed 0)."""
    from tfmtl.data.dataset import Split

    if rows is None or split not in data.splits or len(data[split]) <= rows:
        return
    s = data[split]
    keep = np.sort(np.random.default_rng(0).permutation(len(s))[:rows])
    data.splits[split] = Split(
        features={k: v[keep] for k, v in s.features.items()},
        labels={k: v[keep] for k, v in s.labels.items()},
        extras={k: v[keep] for k, v in s.extras.items()},
    )


def run_one(data, config: dict, seed: int, sched: dict) -> dict:
    """Trains `config` on `sched` with `seed`; its test metric per task, size and speed."""
    import keras

    from tfmtl import training
    from tfmtl.models import registry

    training.set_seed(seed)
    model = registry.build(config, data.spec, data.tasks)
    steps = sched["epochs"] * -(-len(data["train"]) // sched["batch_size"])
    optimizer = keras.optimizers.AdamW(
        keras.optimizers.schedules.CosineDecay(sched["learning_rate"], steps, alpha=0.05),
        weight_decay=sched["weight_decay"],
    )
    training.compile_multitask(model, optimizer=optimizer)
    timer = EpochTimer()
    training.fit(
        model,
        data,
        epochs=sched["epochs"],
        batch_size=sched["batch_size"],
        seed=seed,
        callbacks=[timer],
        verbose=0,
    )
    report = training.evaluate(model, data, "test")
    steady = timer.seconds[1:] or timer.seconds
    return {
        "metric": {
            t.name: float(report[t.name]["auc" if t.kind == "binary" else "mse"])
            for t in model.tasks
        },
        "kind": {t.name: t.kind for t in model.tasks},
        "params": int(model.count_params()),
        "samples_per_s": len(data["train"]) / float(np.median(steady)),
        "epochs": len(timer.seconds),
        "train_rows": len(data["train"]),
    }


def run_key(dataset: dict, config: dict, seed: int, sched: dict) -> str:
    return json.dumps([dataset, config, seed, sched], sort_keys=True)


def read_runs(path: Path) -> dict:
    """Finished runs on file, by `run_key`; a half-written last line (a killed run) is skipped."""
    done = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[run_key(r["dataset"], r["config"], r["seed"], r["schedule"])] = r
    return done


def dataset_runs(section: dict, models: list, sched: dict, seeds: int, runs_file: Path) -> dict:
    """label -> the runs of every seed of every model on one dataset; missing runs train."""
    done, data, runs = read_runs(runs_file), None, {}
    for label, config in models:
        runs[label] = []
        for seed in range(seeds):
            key = run_key(section, config, seed, sched)
            if key not in done:
                if data is None:
                    data = load(section, sched)
                start = time.time()
                result = run_one(data, config, seed, sched)
                done[key] = {
                    "dataset": section,
                    "config": config,
                    "seed": seed,
                    "schedule": sched,
                    "description": data.description,
                    "seconds": round(time.time() - start, 1),
                    **result,
                }
                with runs_file.open("a") as f:
                    f.write(json.dumps(done[key]) + "\n")
                print(
                    f"[zoo] {label} seed {seed} ({done[key]['seconds']:.0f} s): "
                    f"{json.dumps(result['metric'])}",
                    flush=True,
                )
            else:
                print(f"[zoo] {label} seed {seed}: on file, skipped", flush=True)
            runs[label].append(done[key])
    return runs


def table(runs: dict) -> str:
    """One row per model: each task's metric mean ± std over seeds, params, samples/s."""
    first = next(iter(runs.values()))[0]
    tasks, kinds = list(first["metric"]), first["kind"]
    head = "| model | " + " | ".join(
        f"{t} {'AUC' if kinds[t] == 'binary' else 'MSE'}" for t in tasks
    )
    head += " | params | train samples/s | epochs | seeds |"
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for label, results in runs.items():
        cells = []
        for t in tasks:
            values = [r["metric"][t] for r in results]
            cells.append(f"{np.mean(values):.4f} ± {np.std(values):.4f}")
        speed = f"{np.median([r['samples_per_s'] for r in results]):,.0f}"
        if all(r["epochs"] == 1 for r in results):
            speed += " (1st epoch, traces)"
        cells += [
            f"{results[0]['params']:,}",
            speed,
            "/".join(str(r["epochs"]) for r in results),
            str(len(results)),
        ]
        rows.append(f"| `{label}` | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def machine() -> str:
    """CPU model and core count (from /proc/cpuinfo where there is one)."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores"


def render_report(section: dict, runs: dict, sched: dict, command: str) -> str:
    """The Markdown for one dataset: command, machine, date, schedule, then the table."""
    first = next(iter(runs.values()))[0]
    load_avg = os.getloadavg()[0]
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            f"## {section.get('dataset', json.dumps(section))}",
            "",
            f"`{command}`",
            "",
            f"Machine: {machine()} (load average at the end {load_avg:.1f}); {today}.",
            f"Data: {first['description']}; trained on {first['train_rows']:,} rows.",
            f"Schedule: `{json.dumps(sched)}` (AdamW, cosine decay to 5%). Test AUC (binary "
            "tasks) or MSE (regression) mean ± std over seeds; train samples/s is the median "
            "over seeds of the median epoch after the first (validation excluded).",
            "",
            table(runs),
            "",
        ]
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    command = "python benchmarks/zoo_table.py " + shlex.join(
        argv if argv is not None else sys.argv[1:]
    )
    if os.environ.get("TFMTL_DATA_DIR"):  # where the data came from is part of how it ran
        command = f"TFMTL_DATA_DIR={shlex.quote(os.environ['TFMTL_DATA_DIR'])} {command}"
    models = [model_config(text) for text in args.models]
    sched = schedule(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs_file = out / "runs.jsonl"
    for text in args.datasets:
        section = data_section(text)
        runs = dataset_runs(section, models, sched, args.seeds, runs_file)
        report = render_report(section, runs, sched, command)
        name = str(section.get("dataset", "data")).replace("/", "_")
        (out / f"{name}.md").write_text(report)
        print(report, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
