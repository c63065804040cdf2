"""Step time and memory of a ranker as ONE categorical embedding table grows.

The model: an MMoE (2 experts, [64]) with 2 binary tasks (towers [64]), built by
`tfmtl.models.registry.build` and compiled by `tfmtl.training.compile_multitask` (Adam,
masked losses and AUCs), on one categorical feature `item` (`--dim` columns, `rows` table
rows) and `--dense` dense features, batch 1024. Item ids are drawn Zipf-like (P(rank k) ~ 1/k,
as real item ids are skewed), ranks scattered over the id range by a fixed bijection so the hot
ids are not all in the first rows. Each table size runs in a fresh process (peak RSS is the
process's), `--warm` steps then `--steps` timed `train_on_batch` steps.

Modes (`--mode`):

- `tf`: TensorFlow, one device, `item` hashed (`num_hash_bins=rows`) with the lookup inside
  the model: the `tfmtl train` path on TF (graph mode; Keras' `jit_compile="auto"` is off on
  a CPU-only machine).
- `jax_sharded`: JAX with `XLA_FLAGS=--xla_force_host_platform_device_count=2`, `item` a
  vocabulary of `rows - 1` ids (one OOV row, so `rows` rows), the model built with
  `lookup=False` and fed the ids of `FeatureSpec.encode`; each size runs once on one device
  (`jax`) and once under `distribution.scope("jax_model_parallel")`, the table's rows split
  over the 2 devices. (A hashed feature cannot take this path: `FeatureSpec.encode`, which
  `MultiTaskData.encoded` calls for JAX and torch, refuses hashed features.)

    python benchmarks/embedding_tables.py --mode tf
    python benchmarks/embedding_tables.py --mode jax_sharded --out results.md
    python benchmarks/embedding_tables.py --mode tf --quick      # 10k and 100k rows, 5 steps
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ROWS = "10000,100000,1000000,10000000"
# Odd and ending in 1, so coprime with every power of ten: rank -> id is a bijection.
_SCATTER = 2654435761
MB = 1024 * 1024


def zipf_ids(rows: int, size: int, seed: int):
    """`size` ids in [0, rows): rank k (1-based) drawn with P ~ 1/k, then scattered.

    `floor(rows ** u)`, u uniform in [0, 1), has P(rank <= k) = log k / log rows, a density
    ~ 1/k over 1 .. rows (Zipf, s = 1), without a `rows`-long table of weights.
    """
    import numpy as np

    u = np.random.default_rng(seed).random(size)
    ranks = np.minimum(np.floor(np.power(float(rows), u)).astype(np.int64), rows) - 1
    scatter = _SCATTER
    while math.gcd(scatter, rows) != 1:
        scatter += 2
    return (ranks * scatter + 12345) % rows


def make_spec(rows: int, dim: int, num_dense: int, hashed: bool):
    """`item` (`rows` table rows: hashed, or `rows - 1` vocabulary ids + OOV) and dense `d*`."""
    from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec

    if hashed:
        item = CategoricalFeature("item", dim, dtype="int64", num_hash_bins=rows)
    else:
        item = CategoricalFeature("item", dim, dtype="int64", vocabulary=tuple(range(rows - 1)))
    return FeatureSpec([item] + [DenseFeature(f"d{i}") for i in range(num_dense)])


def make_batches(spec, args: argparse.Namespace, hashed: bool) -> list:
    """`warm + steps` batches `(features, labels)`; raw ids (hashed) or encode's ids."""
    import numpy as np

    n = (args.warm + args.steps) * args.batch
    rng = np.random.default_rng(args.seed)
    ids = zipf_ids(args.rows, n, args.seed)
    if hashed:
        items = ids  # raw item ids, hashed into `rows` bins inside the model
    else:
        # vocabulary entry v is id v + 1 and id 0 the OOV row: ids 1 .. rows - 1 are values 0 ..
        # rows - 2; id 0 stands for one unseen value. Checked against encode on the head.
        items = ids.astype(np.int32)
        head = np.where(ids[:256] == 0, -1, ids[:256] - 1)
        if not (spec.encode({"item": head, **_dense_head(spec)})["item"] == items[:256]).all():
            raise ValueError("Benchmark ids differ from FeatureSpec.encode's.")
    x = {"item": items}
    x.update({f.name: rng.normal(size=n).astype("float32") for f in spec.of_kind("dense")})
    logit = x[spec.of_kind("dense")[0].name] if spec.of_kind("dense") else np.zeros(n)
    y = {t: (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("float32") for t in ("t1", "t2")}
    b = args.batch
    return [
        ({k: v[i * b : (i + 1) * b] for k, v in x.items()},
         {k: v[i * b : (i + 1) * b] for k, v in y.items()})
        for i in range(args.warm + args.steps)
    ]  # fmt: skip


def _dense_head(spec) -> dict:
    import numpy as np

    return {f.name: np.zeros(256, "float32") for f in spec.of_kind("dense")}


def build_model(rows: int, dim: int, num_dense: int, hashed: bool):
    """The benchmark's MMoE (2 experts, [64]), 2 binary tasks (towers [64]), compiled."""
    import tfmtl
    from tfmtl import training
    from tfmtl.models import registry

    spec = make_spec(rows, dim, num_dense, hashed)
    tasks = [tfmtl.Task("t1", tower_units=(64,)), tfmtl.Task("t2", tower_units=(64,))]
    config = {"family": "mmoe", "num_experts": 2, "expert_units": [64]}
    model = registry.build(config, spec, tasks, lookup=hashed)
    training.compile_multitask(model, learning_rate=1e-3)
    return spec, model


def per_device_mb(variables) -> float:
    """MB of `variables` held on the first device: its shard where a variable is split."""
    import numpy as np

    total = 0
    for v in variables:
        shards = getattr(v.value, "addressable_shards", None)  # a JAX array's; TF has none
        shape = shards[0].data.shape if shards else v.shape
        total += math.prod(shape) * np.dtype(v.dtype).itemsize
    return total / MB


def memory_figures(model) -> dict:
    """Parameter counts and MB: the table, everything, Adam's state; whole and per device."""
    from tfmtl.embedding_sharding import is_table

    tables = [v for v in model.weights if is_table(v) and "item" in v.path]
    table_rows = int(tables[0].shape[0])
    state = [v for v in model.optimizer.variables if len(v.shape) > 0]  # moments, not counters
    return {
        "params": int(model.count_params()),
        "table_params": int(math.prod(tables[0].shape)),
        "table_rows": table_rows,
        "table_mb": math.prod(tables[0].shape) * 4 / MB,
        "adam_mb": sum(math.prod(v.shape) for v in state) * 4 / MB,
        "table_mb_per_device": per_device_mb(tables),
        "adam_mb_per_device": per_device_mb(state),
    }


def time_steps(model, batches: list, warm: int) -> list:
    """Seconds of each `train_on_batch` after the first `warm` (it returns numpy: synced)."""
    times = []
    for i, (x, y) in enumerate(batches):
        t0 = time.perf_counter()
        model.train_on_batch(x, y)
        if i >= warm:
            times.append(time.perf_counter() - t0)
    return times


def worker(args: argparse.Namespace) -> dict:
    """One table size, one run, in this process: its figures as a dict."""
    import resource

    import keras

    from tfmtl import distribution, training

    hashed = args.mode == "tf"
    training.set_seed(args.seed)
    started = time.perf_counter()
    with distribution.scope(args.distribution) as active:
        spec, model = build_model(args.rows, args.dim, args.dense, hashed)
        batches = make_batches(spec, args, hashed)
        model.optimizer.build(model.trainable_variables)
        times = time_steps(model, batches, args.warm)
        figures = memory_figures(model)
    median = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {
        "run": _run_name(keras.backend.backend(), args.distribution),
        "rows": args.rows,
        "devices": active.num_replicas if args.distribution != "none" else 1,
        **figures,
        "step_ms_median": median * 1e3,
        "step_ms_min": min(times) * 1e3,
        "step_ms_max": max(times) * 1e3,
        "samples_per_s": args.batch / median,
        "peak_rss_mb": rss,
        "wall_s": time.perf_counter() - started,
    }


def _run_name(backend: str, name: str) -> str:
    return {"tensorflow": "tf", "jax": "jax"}.get(backend, backend) + (
        f" + {name}" if name != "none" else ""
    )


def run_size(rows: int, distribution_name: str, args: argparse.Namespace) -> dict:
    """One size in a fresh process (its peak RSS is that size's alone); its JSON result."""
    cmd = [sys.executable, str(Path(__file__)), "--worker", "--rows", str(rows)]
    cmd += ["--distribution", distribution_name, "--mode", args.mode, "--dim", str(args.dim)]
    cmd += ["--steps", str(args.steps), "--warm", str(args.warm), "--batch", str(args.batch)]
    cmd += ["--dense", str(args.dense), "--seed", str(args.seed)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    if args.mode == "tf":
        env["KERAS_BACKEND"] = "tensorflow"
    else:
        env["KERAS_BACKEND"] = "jax"
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = " ".join(done.stderr.strip().splitlines()[-3:])[-400:]
        return {"rows": rows, "run": distribution_name, "error": f"exit {done.returncode}: {tail}"}
    return json.loads(lines[-1])


def render_row(r: dict) -> str:
    """One run's row of the Markdown table; a failed run names its error."""
    if "error" in r:
        return f"| {r['rows']:,} | {r['run']} | failed: {r['error']} |" + " |" * 8
    return (
        f"| {r['rows']:,} | {r['run']} | {r['devices']} | {r['params']:,} | {r['table_mb']:.1f} "
        f"| {r['adam_mb']:.1f} | {r['table_mb_per_device']:.1f} | {r['adam_mb_per_device']:.1f} "
        f"| {r['step_ms_median']:.1f} ({r['step_ms_min']:.1f}-{r['step_ms_max']:.1f}) "
        f"| {r['samples_per_s']:,.0f} | {r['peak_rss_mb']:,.0f} |"
    )


def render(results: list, args: argparse.Namespace) -> str:
    """The Markdown table and what it shows."""
    lines = [
        f"MMoE (2 experts, [64]), 2 binary tasks, one categorical table of dim {args.dim} "
        f"({'hashed, lookup inside the model' if args.mode == 'tf' else 'vocabulary ids, lookup=False'}), "  # noqa: E501
        f"{args.dense} dense features, batch {args.batch}, Adam; Zipf-like ids; "
        f"{args.warm} warm-up + {args.steps} timed steps per size, each size its own process.",
        "",
        "| rows | run | devices | params | table MB | Adam state MB | table MB / device "
        "| Adam state MB / device | step ms median (min-max) | samples/s | peak RSS MB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [render_row(r) for r in results]
    if args.mode == "jax_sharded":
        lines += [
            "",
            "The 2 devices are `--xla_force_host_platform_device_count=2` on one CPU: they share "
            "its cores and its memory, so the sharded run is not faster (the split lookup adds "
            "cross-device work and no compute) and the process's RSS holds both halves. What "
            "it shows is the per-device columns: each device holds half the table's rows and "
            "half its Adam moments.",
        ]
    return "\n".join(lines) + "\n"


def machine_line() -> str:
    """Platform, CPU, core count, load, library versions."""
    import importlib.metadata as md

    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in _cpuinfo() if ln.startswith("model name")), "?"
    )
    versions = ", ".join(
        f"{p} {md.version(p)}" for p in ("keras", "tensorflow", "jax", "numpy") if _has(p)
    )
    load = "/".join(f"{v:.2f}" for v in os.getloadavg())
    return (
        f"Machine: {platform.platform()}, {cpu}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, {versions}; load average {load}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."
    )


def _cpuinfo() -> list:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def _has(package: str) -> bool:
    import importlib.metadata as md

    try:
        md.version(package)
    except md.PackageNotFoundError:
        return False
    return True


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mode", default="tf", choices=("tf", "jax_sharded"))
    p.add_argument("--rows-list", default=DEFAULT_ROWS, help="comma-separated table sizes")
    p.add_argument("--dim", type=int, default=16, help="embedding dimension")
    p.add_argument("--dense", type=int, default=4, help="dense features")
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--warm", type=int, default=5, help="warm-up steps (compilation) per size")
    p.add_argument("--steps", type=int, default=30, help="timed steps per size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="10k and 100k rows, 2 + 5 steps")
    p.add_argument("--out", default=None, help="append the table, command and machine here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--rows", type=int, default=10_000, help=argparse.SUPPRESS)
    p.add_argument("--distribution", default="none", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.rows_list, args.warm, args.steps = "10000,100000", 2, 5
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)), flush=True)
        return
    runs = ["none"] if args.mode == "tf" else ["none", "jax_model_parallel"]
    machine_before = machine_line()
    results = []
    for rows in (int(r) for r in args.rows_list.split(",") if r):
        for name in runs:
            results.append(run_size(rows, name, args))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    table = render(results, args)
    print(table)
    if args.out:
        command = "python benchmarks/embedding_tables.py " + " ".join(sys.argv[1:])
        with open(args.out, "a") as out:
            out.write(
                f"\n## `--mode {args.mode}`\n\nCommand: `{command}`\n\n{machine_before}\n"
                f"After: load average {'/'.join(f'{v:.2f}' for v in os.getloadavg())}.\n\n{table}"
            )


if __name__ == "__main__":
    main()
