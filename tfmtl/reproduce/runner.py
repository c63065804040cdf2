"""One paper table: its run config x its variants x seeds, resumable, written as Markdown.

A table module (see `tfmtl.reproduce`) names its run config (`CONFIG`), its rows
(`VARIANTS`, each a `Variant`), its columns (`COLUMNS`: metric key and header), its default
`SEEDS`, and may add `score(model, view, data)` (the row's test metrics; default: each task's
test AUC or MSE), `derive(runs)` (metrics computed across rows, e.g. PLE eq 11's MTL gain),
`view(data, model_config)` and `build(model_config, spec, tasks, lookup)` (for rows the registry
cannot build), `QUICK` (row caps of a `--quick` run) and `NOTES`. Every finished run is a
line of `NAME.jsonl`, keyed by its data, model, seed and schedule (`tfmtl.reproduce.engine`):
a rerun trains only what is missing.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from tfmtl.reproduce import CONFIGS, engine, load_table

DEFAULT_OUT = "benchmarks/results/reproduce"
TUNE_SEEDS = 1  # seeds per candidate when a row chooses its model on the validation split


@dataclasses.dataclass(frozen=True)
class Variant:
    """One row of a table.

    Args:
        label: str. The row's name, as the paper prints it.
        model: dict. The row's `model:` section (replacing the run config's).
        paper: dict. Metric key -> the paper's number, as printed.
        training: dict. `training:` keys this row sets (e.g. its early-stopping monitor).
        tune: tuple of dict. Model sections to choose from on the validation split (the
            best mean validation metric of `TUNE_SEEDS` seeds); `model` in a `--quick` run.
    """

    label: str
    model: dict
    paper: dict = dataclasses.field(default_factory=dict)
    training: dict = dataclasses.field(default_factory=dict)
    tune: tuple = ()


def run_config(table, quick: bool = False) -> dict:
    """The table's run config, resolved; a `--quick` run trains one epoch."""
    from tfmtl.config import load_config

    overrides = ["training.epochs=1", *getattr(table, "QUICK_SET", [])] if quick else []
    return load_config(CONFIGS / table.CONFIG, overrides)


def schedule(name: str, config: dict, quick: bool) -> dict:
    """What every run of table `name` trains with: part of each run's key."""
    table = load_table(name)
    caps = {**engine.QUICK, **getattr(table, "QUICK", {})} if quick else {}
    caps.pop("epochs", None)  # the run config's training.epochs, set by `run_config`
    if quick:  # a step or two: eager is ten times faster than tracing the train step
        caps["eager"] = True
    return {"table": name, "training": config["training"], **caps}


def reproduce(name: str, seeds=None, quick: bool = False, out=DEFAULT_OUT, command: str = ""):
    """Trains what `out/NAME.jsonl` lacks of table `name` and writes `out/NAME.md`; its path."""
    table = load_table(name)
    config = run_config(table, quick)
    sched = schedule(name, config, quick)
    seeds = seeds if seeds is not None else (1 if quick else table.SEEDS)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs_file = out / f"{name}.jsonl"
    section = {"data": config["data"], "tasks": config["tasks"]}
    cache = {}

    def load(section: dict, sched: dict):
        if "data" not in cache:
            cache["data"] = _load(section, sched)
        return cache["data"]

    def train(data, entry: dict, seed: int, sched: dict) -> dict:
        return _train(table, config, data, entry, seed, sched.get("eager", False))

    entries = []
    for variant in table.VARIANTS:
        entry = _entry(table, variant, variant.model)
        if variant.tune and not quick:
            candidates = [
                (f"{variant.label} (candidate {i})", _entry(table, variant, m))
                for i, m in enumerate(variant.tune)
            ]
            tuned = engine.dataset_runs(
                section, candidates, sched, TUNE_SEEDS, runs_file, train, load
            )
            label = max(tuned, key=lambda k: np.mean([r["validation"] for r in tuned[k]]))
            entry = dict(candidates)[label]
        entries.append((variant.label, entry))
    runs = engine.dataset_runs(section, entries, sched, seeds, runs_file, train, load)
    path = out / f"{name}.md"
    path.write_text(render(table, runs, dict(entries), config, command))
    return path


def _entry(table, variant: Variant, model: dict) -> dict:
    """A row's run-key part: its model section (resolved by the registry) and training keys."""
    from tfmtl.models import registry

    resolve = registry.resolve if getattr(table, "build", None) is None else dict
    return {"model": resolve(model), "training": dict(variant.training)}


def _load(section: dict, sched: dict):
    """The table's data as `tfmtl train` reads it, rows capped for a `--quick` run."""
    from tfmtl.cli.train import load_data
    from tfmtl.config import parse_config

    data, _ = load_data(parse_config(json.dumps(section), source=sched["table"]))
    return engine.capped(data, sched)


def _train(table, config: dict, data, entry: dict, seed: int, eager: bool = False) -> dict:
    """One run: the row's model on the run config's training, scored on the test split."""
    import keras

    from tfmtl import training
    from tfmtl.cli.fitting import compiled_model

    keras.backend.clear_session()
    t = {**config["training"], **entry["training"], "seed": seed}
    view = table.view(data, entry["model"]) if hasattr(table, "view") else data
    model = compiled_model({**config, "model": entry["model"], "training": t}, view, _build(table))
    model.run_eagerly = eager
    stop = t["early_stopping"]
    callbacks = []
    if stop and "validation" in view.splits:
        callbacks.append(training.early_stopping(stop["patience"], stop["monitor"], stop["mode"]))
    history = training.fit(
        model,
        view,
        epochs=t["epochs"],
        batch_size=t["batch_size"],
        seed=seed,
        callbacks=callbacks,
        verbose=0,
    )
    if hasattr(table, "score"):
        metric = table.score(model, view, data)
    else:
        metric = engine.task_metrics(model.tasks, training.evaluate(model, view, "test"))
    validation = None
    if "validation" in view.splits:
        scores = engine.task_metrics(model.tasks, training.evaluate(model, view, "validation"))
        validation = float(np.mean(list(scores.values())))
    return {
        "metric": metric,
        "validation": validation,
        "params": int(model.count_params()),
        "epochs": len(history.history.get("loss", [])),
        "train_rows": len(view["train"]),
    }


def _build(table):
    return getattr(table, "build", None)


def render(table, runs: dict, entries: dict, config: dict, command: str) -> str:
    """The table's Markdown: the command, how it ran, ours beside the paper's, the configs."""
    first = next(iter(runs.values()))[0]
    derived = table.derive(runs) if hasattr(table, "derive") else {}
    paper = {v.label: v.paper for v in table.VARIANTS}
    head = ["model"]
    for _, header in table.COLUMNS:
        head += [header, f"{header} (paper)"]
    head += ["params", "epochs", "seeds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, results in runs.items():
        cells = [label]
        for key, _ in table.COLUMNS:
            values = [
                {**r["metric"], **(derived.get(label) or [{}] * len(results))[i]}.get(key)
                for i, r in enumerate(results)
            ]
            cells += [engine.mean_std([np.nan if v is None else v for v in values])]
            cells += [paper.get(label, {}).get(key, "-")]
        cells += [
            f"{results[0]['params']:,}",
            "/".join(str(r["epochs"]) for r in results),
            str(len(results)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    configs = [f"- {label}: `{json.dumps(entry)}`" for label, entry in entries.items()]
    return "\n".join(
        [
            f"# {first['schedule']['table']}: {table.TITLE}",
            "",
            f"`{command}`",
            "",
            engine.provenance(),
            f"Data: {first['description']}; trained on {first['train_rows']:,} rows.",
            f"Run config: `tfmtl/reproduce/configs/{table.CONFIG}`; training: "
            f"`{json.dumps(config['training'])}`.",
            "Test split; ours: mean ± std (population) over seeds; paper: as printed.",
            "",
            *lines,
            "",
            getattr(table, "NOTES", "").strip(),
            "",
            "Model configs (`model:` sections; `training:` keys a row sets):",
            "",
            *configs,
            "",
        ]
    )
