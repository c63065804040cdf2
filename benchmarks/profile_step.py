"""Where the train step's time goes: op-level profile of tfmtl MMoE/PLE on the reference workload.

torch backend: `torch.profiler` over `--steps` Keras `train_on_batch` steps, ops grouped as
GEMM (mm/addmm/bmm/matmul), embedding, optimizer (Adam's foreach ops), elementwise and other,
plus the top ops by self time. Other backends: wall time of the full step against the time of
its GEMMs alone (the same matmul shapes, timed on the backend), i.e. the non-GEMM overhead.

    KERAS_BACKEND=torch python benchmarks/profile_step.py --model mmoe --steps 20
    KERAS_BACKEND=tensorflow python benchmarks/profile_step.py --model mmoe
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.throughput_worker import build, flops_per_sample  # noqa: E402

# On CPU torch's _foreach ops (Keras' Adam) loop over per-tensor aten ops, so Adam's work shows
# up as elementwise mul/add/sqrt/div, next to bias adds and activations.
ELEMENTWISE = (
    "aten::mul",
    "aten::add",
    "aten::sqrt",
    "aten::div",
    "aten::copy_",
    "aten::fill_",
    "aten::threshold_backward",
    "aten::clamp_min",
    "aten::sub",
    "aten::zero_",
)
ELEMENTWISE_GROUP = "elementwise (Adam, bias, relu, copies)"


def group_ops(prof) -> tuple[dict, list]:
    """Self CPU seconds per op group, and `(seconds, op, calls)` for every op of the profile."""
    groups = {"GEMM": 0.0, "embedding": 0.0, ELEMENTWISE_GROUP: 0.0, "other ops": 0.0}
    rows = []
    for e in prof.key_averages():
        if e.key.startswith("ProfilerStep"):
            continue
        t = e.self_cpu_time_total / 1e6
        rows.append((t, e.key, e.count))
        k = e.key.lower()
        if any(s in k for s in ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")):
            groups["GEMM"] += t
        elif "embedding" in k or "index_select" in k or "index_add" in k:
            groups["embedding"] += t
        elif any(k == op or k == op + "_" for op in ELEMENTWISE):
            groups[ELEMENTWISE_GROUP] += t
        else:
            groups["other ops"] += t
    return groups, rows


def profile_torch(model, batches: list, args: argparse.Namespace, batch_size: int) -> None:
    """Runs the timed steps under `torch.profiler`; prints op groups and the top ops."""
    t0 = time.perf_counter()
    import torch

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for xb, yb in batches:
            model.train_on_batch(xb, yb)
    wall = time.perf_counter() - t0
    groups, rows = group_ops(prof)
    ops_total = sum(groups.values())
    print(
        f"## torch profile, tfmtl {args.model}, {args.steps} steps, batch {batch_size}: "
        f"{args.steps * batch_size / wall:,.0f} samples/s under the profiler "
        f"({wall / args.steps * 1e3:.1f} ms/step; "
        f"{torch.get_num_threads()} threads; load {os.getloadavg()[0]:.2f})\n"
    )
    print("| group | self CPU s | share of op time | ms/step |\n|---|---:|---:|---:|")
    for g, t in groups.items():
        print(f"| {g} | {t:.2f} | {100 * t / ops_total:.0f}% | {t / args.steps * 1e3:.1f} |")
    print(f"\nop time {ops_total:.2f} s vs wall {wall:.2f} s (the rest: Python/Keras dispatch).\n")
    print("| op | calls | self CPU s |\n|---|---:|---:|")
    for t, key, count in sorted(rows, reverse=True)[: args.top]:
        print(f"| {key} | {count} | {t:.3f} |")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mmoe", choices=("mmoe", "ple"))
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--top", type=int, default=15)
    args = p.parse_args()

    import keras

    from tfmtl.losses import MaskedLoss

    W, model, x, y = build(args.model)
    backend = keras.backend.backend()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss={t: MaskedLoss("binary", name=f"{t}_loss") for t in y},
        jit_compile=backend != "torch",
    )
    b = W.BATCH
    batches = [
        (
            {k: v[i * b : (i + 1) * b] for k, v in x.items()},
            {k: v[i * b : (i + 1) * b] for k, v in y.items()},
        )
        for i in range(args.steps + 5)
    ]
    for xb, yb in batches[:5]:  # warm-up / compile
        model.train_on_batch(xb, yb)
    if backend == "torch":
        profile_torch(model, batches[5:], args, b)
        return
    t0 = time.perf_counter()
    for xb, yb in batches[5:]:
        model.train_on_batch(xb, yb)
    wall = time.perf_counter() - t0
    rate = args.steps * b / wall
    print(
        f"## {backend} (jit), tfmtl {args.model}: {rate:,.0f} samples/s over {args.steps} steps "
        f"({wall / args.steps * 1e3:.1f} ms/step; load {os.getloadavg()[0]:.2f}); "
        f"{rate * flops_per_sample(args.model) / 1e9:.1f} GFLOP/s of model GEMM work"
    )


if __name__ == "__main__":
    main()
