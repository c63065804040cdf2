"""Model configs x data x seeds, resumable: the engine of `tfmtl reproduce` and the zoo table.

A run is keyed by (data section, model config, seed, schedule): `dataset_runs` trains only the
keys missing from its JSONL file (one finished run a line; a killed run's half-written line
is skipped) and returns every run by its label. `load` reads a run config's `data:` section
as `tfmtl train` does and caps its rows; `run_one` is the zoo's fixed schedule (AdamW, cosine
decay to 5%); `table` and `render_report` write the zoo's Markdown.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np

# --quick: a smoke run for tests, without the per-epoch validation (its trace is the slow part)
QUICK = {"rows": 300, "eval_rows": 1000, "epochs": 1, "validate": False}


def model_config(text: str) -> tuple[str, dict]:
    """A model config (a family name, or JSON/YAML) -> (its label, the resolved config)."""
    import yaml

    from tfmtl.models import registry

    value = yaml.safe_load(text)
    resolved = registry.resolve(value)
    label = value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "))
    return label, resolved


def data_section(text: str) -> dict:
    """A dataset name, a YAML mapping or a run config file -> a run config's `data:` section."""
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
    return capped(data, sched)


def capped(data, sched: dict):
    """`data` with train capped at `sched["rows"]`, the others at `sched["eval_rows"]`."""
    cap(data, "train", sched.get("rows"))
    if not sched.get("validate", True):
        data.splits.pop("validation", None)
    for split in ("validation", "test"):
        cap(data, split, sched.get("eval_rows"))
    return data


def cap(data, split: str, rows: int | None) -> None:
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
    oracle = getattr(data, "oracle", None)  # the funnel's counterfactual labels, row for row
    if oracle and split in oracle:
        oracle[split] = {k: v[keep] for k, v in oracle[split].items()}


def task_metrics(tasks, report: dict) -> dict:
    """Task name -> its test AUC (binary) or MSE (regression) from an `evaluate` report."""
    return {t.name: float(report[t.name]["auc" if t.kind == "binary" else "mse"]) for t in tasks}


def run_one(data, config: dict, seed: int, sched: dict) -> dict:
    """Trains `config` on `sched` with `seed`; its test metric per task, size and speed."""
    import keras

    from tfmtl import training
    from tfmtl.callbacks import EpochTimer
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
    steady = timer.seconds[1:] or timer.seconds
    return {
        "metric": task_metrics(model.tasks, training.evaluate(model, data, "test")),
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


def append_run(path: Path, run: dict) -> None:
    """Appends `run` as one line, after a killed run's half-written line if there is one."""
    start = ""
    if path.is_file() and path.stat().st_size:
        with path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            start = "" if f.read(1) == b"\n" else "\n"
    with path.open("a") as f:
        f.write(start + json.dumps(run) + "\n")


def dataset_runs(
    section: dict,
    models: list,
    sched: dict,
    seeds,
    runs_file: Path,
    train: Callable = run_one,
    load_data: Callable = load,
) -> dict:
    """label -> the runs of every seed of every `(label, config)` on one dataset.

    Missing runs are trained by `train(data, config, seed, sched)` on `load_data(section,
    sched)` (read once, only when something is missing) and appended to `runs_file`.
    `seeds`: a count (seeds 0 .. N-1) or the seeds themselves.
    """
    done, data, runs = read_runs(runs_file), None, {}
    seeds = range(seeds) if isinstance(seeds, int) else list(seeds)
    for label, config in models:
        runs[label] = []
        for seed in seeds:
            key = run_key(section, config, seed, sched)
            if key in done:
                print(f"[runs] {label} seed {seed}: on file, skipped", flush=True)
            else:
                if data is None:
                    data = load_data(section, sched)
                start = time.time()
                result = train(data, config, seed, sched)
                done[key] = {
                    "dataset": section,
                    "config": config,
                    "seed": seed,
                    "schedule": sched,
                    "description": data.description,
                    "seconds": round(time.time() - start, 1),
                    **result,
                }
                append_run(runs_file, done[key])
                print(
                    f"[runs] {label} seed {seed} ({done[key]['seconds']:.0f} s): "
                    f"{json.dumps(result['metric'])}",
                    flush=True,
                )
            runs[label].append(done[key])
    return runs


def mean_std(values) -> str:
    """`0.9512 ± 0.0031` (population std); `-` when no value is finite."""
    values = np.asarray(values, dtype=float)
    if not np.isfinite(values).any():
        return "-"
    return f"{np.nanmean(values):.4f} ± {np.nanstd(values):.4f}"


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
        cells = [mean_std([r["metric"][t] for r in results]) for t in tasks]
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


def provenance() -> str:
    """`Machine: <cpu>, N cores (load average at the end 1.2); 2026-01-01 12:00 UTC.`"""
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"Machine: {machine()} (load average at the end {os.getloadavg()[0]:.1f}); {today}."


def render_report(section: dict, runs: dict, sched: dict, command: str) -> str:
    """The Markdown for one dataset: command, machine, date, schedule, then the table."""
    first = next(iter(runs.values()))[0]
    return "\n".join(
        [
            f"## {section.get('dataset', json.dumps(section))}",
            "",
            f"`{command}`",
            "",
            provenance(),
            f"Data: {first['description']}; trained on {first['train_rows']:,} rows.",
            f"Schedule: `{json.dumps(sched)}` (AdamW, cosine decay to 5%). Test AUC (binary "
            "tasks) or MSE (regression) mean ± std over seeds; train samples/s is the median "
            "over seeds of the median epoch after the first (validation excluded).",
            "",
            table(runs),
            "",
        ]
    )
