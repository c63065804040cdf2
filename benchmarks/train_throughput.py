"""Training throughput: tfmtl (MMoE, PLE) on every Keras 3 backend against DeepCTR and torch-rechub.

ONE run measures, on the shared reference workload (`../shared/bench/workload.py`: census-shaped,
33 categorical (vocab 2-50, emb 16) + 7 dense, 8 experts (256, 128), towers (64,), batch 1024,
Adam 1e-3, 20 warm-up + 200 timed steps, 3 repeats):

- tfmtl MMoE and PLE under KERAS_BACKEND = tensorflow (XLA), jax (jit) and torch, each in its own
  process (the backend is fixed at import), trained with plain `model.fit`;
- DeepCTR 0.9.4 (tf-keras) and torch-rechub 0.9.0 through the shared peer scripts, each in its
  own virtualenv under `.peers/` (created here when absent, see `benchmarks/peer_envs.py`),
  and the same two libraries' PLE through `benchmarks/peer_ple.py`;
- tfmtl MMoE and PLE in mixed precision (`keras.config.set_dtype_policy("mixed_bfloat16")`:
  bfloat16 compute, float32 weights, optimizer and heads) on TensorFlow (graph mode: oneDNN's
  bfloat16 GEMM; XLA's CPU dot has no bfloat16 speed-up) and torch, when the CPU has
  AVX512_BF16 or AMX (`--bf16-backends ''` turns them off);
- the GEMM ceilings of TF, torch and JAX (2048^3 matmul, GFLOP/s; float32, and bfloat16 for
  the backends with bf16 rows).

Runs are interleaved (peer, tfmtl, peer, ...) so a loaded machine hurts every row alike. It
prints a Markdown table: samples/s (median, min, max over the repeats), ratio to DeepCTR's
same model, GFLOP/s as % of the backend's GEMM ceiling, and peak RSS of the process.

Usage:

    python benchmarks/train_throughput.py                 # full run (~10 min on 2 cores)
    python benchmarks/train_throughput.py --quick         # 3 + 10 steps, 1 repeat: smoke test
    python benchmarks/train_throughput.py --backends torch --models mmoe --no-peers
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BENCH = ROOT.parent / "shared" / "bench"
BACKENDS = ("tensorflow", "jax", "torch")
MODELS = ("mmoe", "ple")
# PLE on the same workload: 2 levels of 2 task-specific + 4 shared experts (8 a level, as
# MMoE's 8), every expert (256, 128) (DeepCTR reuses expert_dnn_hidden_units at every level).
PLE = {"num_levels": 2, "num_task_experts": 2, "num_shared_experts": 4}


# ---------------------------------------------------------------------------------------
# worker: one tfmtl configuration in this process
# ---------------------------------------------------------------------------------------
def _workload():
    sys.path.insert(0, str(BENCH))
    import workload as W

    return W


def flops_per_sample(model: str) -> float:
    """Training FLOPs per sample (2 x multiply-adds x 3 for forward + backward), as workload.py."""
    W = _workload()
    if model == "mmoe":
        return W.flops_per_sample()
    d_in, e, (u1, u2) = W.N_CAT * W.EMB + W.N_DENSE, W.EXPERTS, W.EXPERT_UNITS
    t, m_t, m_s = 2, PLE["num_task_experts"], PLE["num_shared_experts"]
    fwd = 0
    for level, d in enumerate((d_in, u2)):
        fwd += e * (d * u1 + u1 * u2)
        gates = t * (m_t + m_s) + (t * m_t + m_s if level == 0 else 0)
        fwd += d * gates
    tdims = (u2,) + W.TOWER + (1,)
    fwd += t * sum(a * b for a, b in zip(tdims[:-1], tdims[1:]))
    return 2 * fwd * 3


def build(model: str, lookup: bool = False):
    """The workload's spec, tasks and tfmtl model (ids as `FeatureSpec.encode` gives them)."""
    import tfmtl
    from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec

    W = _workload()
    vocab, cats, dense, y1, y2 = W.make()
    spec = FeatureSpec(
        [
            CategoricalFeature(
                f"c{i}", embedding_dim=W.EMB, dtype="int64", vocabulary=tuple(range(int(v)))
            )
            for i, v in enumerate(vocab)
        ]
        + [DenseFeature(f"d{i}") for i in range(W.N_DENSE)]
    )
    tasks = [tfmtl.Task("t1", tower_units=W.TOWER), tfmtl.Task("t2", tower_units=W.TOWER)]
    # vocabulary entry i is id i + 1 (0 = OOV): exactly FeatureSpec.encode, without its dict walk.
    x = {f"c{i}": (cats[:, i] + 1).astype("int32") for i in range(W.N_CAT)}
    x.update({f"d{i}": dense[:, i] for i in range(W.N_DENSE)})
    head = {k: v[:64] for k, v in x.items()}
    check = spec.encode(
        {
            **{f"c{i}": cats[:64, i] for i in range(W.N_CAT)},
            **{f"d{i}": dense[:64, i] for i in range(W.N_DENSE)},
        }
    )
    assert all((check[k] == head[k]).all() for k in head), "ids differ from FeatureSpec.encode"
    hp = (
        {"num_experts": W.EXPERTS, "expert_units": list(W.EXPERT_UNITS)}
        if model == "mmoe"
        else {**PLE, "expert_units": list(W.EXPERT_UNITS)}
    )
    net = tfmtl.models.build_model(model, spec, tasks, lookup=lookup, **hp)
    return W, net, x, {"t1": y1, "t2": y2}


def worker(args) -> dict:
    import resource

    import keras

    from tfmtl.losses import MaskedLoss

    if args.precision != "float32":
        keras.config.set_dtype_policy(args.precision)
    W, model, x, y = build(args.model)
    jit = {"on": True, "off": False}[args.jit]
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss={t: MaskedLoss("binary", name=f"{t}_loss") for t in y},  # no metrics, as the peers
        jit_compile=jit,
    )
    warm, timed = args.warm, args.timed
    n = (warm + timed) * W.BATCH
    x = {k: v[:n] for k, v in x.items()}
    y = {k: v[:n] for k, v in y.items()}
    if args.pipeline == "tfdata":
        import tensorflow as tf

        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(W.BATCH).prefetch(tf.data.AUTOTUNE)
        fit_kwargs = {}
    else:
        data, fit_kwargs = x, {"y": y, "batch_size": W.BATCH, "shuffle": False}

    class Timer(keras.callbacks.Callback):  # the peers' timer: steps warm .. warm + timed
        def on_train_batch_end(self, batch, logs=None):
            if batch == warm - 1:
                self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.rate = timed * W.BATCH / (time.perf_counter() - self.t0)

    rates = []
    for _ in range(args.repeats):
        timer = Timer()
        hist = model.fit(data, epochs=1, verbose=0, callbacks=[timer], **fit_kwargs)
        rates.append(timer.rate)
    loss = float(hist.history["loss"][-1])
    rates.sort()
    return {
        "impl": f"tfmtl/{args.backend}"
        + ("+jit" if jit else "")
        + ("+bf16" if args.precision != "float32" else ""),
        "precision": args.precision,
        "model": args.model,
        "samples_per_s": {"median": statistics.median(rates), "min": rates[0], "max": rates[-1]},
        "gflops": statistics.median(rates) * flops_per_sample(args.model) / 1e9,
        "loss": loss,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "pipeline": args.pipeline,
    }


def gemm_ceiling(backend: str, dtype: str = "float32") -> float:
    """Median GFLOP/s of a 2048^3 matmul on `backend` (as the shared scripts measure)."""
    import numpy as np

    a = np.random.default_rng(0).normal(size=(2048, 2048)).astype("float32")
    if backend == "torch":
        import torch

        ta = torch.from_numpy(a).to(getattr(torch, dtype))
        f = lambda: ta @ ta  # noqa: E731
    elif backend == "jax":
        import jax

        ja = jax.numpy.asarray(a, dtype=dtype)
        g = jax.jit(lambda m: m @ m)
        f = lambda: g(ja).block_until_ready()  # noqa: E731
    else:
        import tensorflow as tf

        ta = tf.cast(tf.constant(a), dtype)
        g = tf.function(lambda: tf.matmul(ta, ta))
        f = lambda: g().numpy()  # noqa: E731
    f()
    ts = []
    for _ in range(10):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return 2 * 2048**3 / sorted(ts)[5] / 1e9


# ---------------------------------------------------------------------------------------
# orchestrator
# ---------------------------------------------------------------------------------------
def _run(cmd, env=None, cwd=None, timeout=1200):
    """Run `cmd`; its JSON lines merged (the result, and the peak RSS line of _RSS_WRAPPER)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        tail = "\n".join((err or "").splitlines()[-15:])
        return {"error": f"{' '.join(map(str, cmd[:4]))} exited {p.returncode}:\n{tail}"}
    result = {}
    for line in lines:  # the script's JSON line, then _RSS_WRAPPER's
        result.update(json.loads(line))
    result["wall_s"] = time.perf_counter() - t0
    return result


# Runs a peer script unchanged, then prints its process's peak RSS as one more JSON line.
_RSS_WRAPPER = (
    "import json, resource, runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__'); "
    "print(json.dumps({'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))"
)


def _tfmtl_cmd(backend, model, args, precision="float32"):
    # XLA on TF and JAX; not for bfloat16 on TF, whose speed-up is oneDNN's graph-mode GEMM.
    jit = backend == "jax" or (backend == "tensorflow" and precision == "float32")
    cmd = [
        sys.executable,
        str(Path(__file__)),
        "--worker",
        "--backend",
        backend,
        "--model",
        model,
        "--jit",
        "on" if jit else "off",
        "--repeats",
        str(args.repeats),
        "--warm",
        str(args.warm),
        "--timed",
        str(args.timed),
        "--precision",
        precision,
    ]
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return cmd, env


def _gemm_cmd(backend, dtype="float32"):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return [sys.executable, str(Path(__file__)), "--gemm", backend, "--gemm-dtype", dtype], env


def cpu_has_bf16() -> bool:
    """Whether the CPU multiplies bfloat16 natively (AVX512_BF16 or AMX), per /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--warm", type=int, default=None, help="warm-up steps (default: the workload's 20)"
    )
    p.add_argument(
        "--timed", type=int, default=None, help="timed steps (default: the workload's 200)"
    )
    p.add_argument(
        "--quick", action="store_true", help="3 warm-up + 10 timed steps, 1 repeat, no peers"
    )
    p.add_argument("--no-peers", action="store_true")
    p.add_argument(
        "--bf16-backends",
        default="tensorflow,torch",
        help="backends also run in mixed_bfloat16 (only on CPUs with AVX512_BF16/AMX; '' for none)",
    )
    p.add_argument(
        "--out", default=None, help="also write the table (and raw JSON) to this Markdown file"
    )
    # worker modes (internal)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--gemm", default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"), help=argparse.SUPPRESS
    )
    p.add_argument("--model", default="mmoe", help=argparse.SUPPRESS)
    p.add_argument("--jit", default="on", choices=("on", "off"), help=argparse.SUPPRESS)
    p.add_argument(
        "--pipeline", default="numpy", choices=("numpy", "tfdata"), help=argparse.SUPPRESS
    )
    p.add_argument(
        "--precision",
        default="float32",
        choices=("float32", "mixed_bfloat16"),
        help=argparse.SUPPRESS,
    )
    p.add_argument(
        "--gemm-dtype", default="float32", choices=("float32", "bfloat16"), help=argparse.SUPPRESS
    )
    args = p.parse_args(argv)
    W = _workload()
    if args.quick:
        args.warm, args.timed, args.repeats, args.no_peers = 3, 10, 1, True
    args.warm = W.STEPS_WARM if args.warm is None else args.warm
    args.timed = W.STEPS_TIMED if args.timed is None else args.timed

    if args.gemm:
        print(
            json.dumps(
                {
                    "backend": args.gemm,
                    "dtype": args.gemm_dtype,
                    "gemm_gflops": gemm_ceiling(args.gemm, args.gemm_dtype),
                }
            )
        )
        return
    if args.worker:
        print(json.dumps(worker(args)))
        return

    backends = [b for b in args.backends.split(",") if b]
    models = [m for m in args.models.split(",") if m]
    bf16 = [b for b in args.bf16_backends.split(",") if b in backends] if cpu_has_bf16() else []
    jobs = []  # (label, kind, model, thunk) in interleaved order
    if not args.no_peers:
        from benchmarks import peer_envs  # noqa: F401  (run from the repo root)
    for model in models:
        if not args.no_peers:
            jobs.append(("deepctr", model))
        for i, backend in enumerate(backends):
            jobs.append((backend, model))
            if i == 0 and not args.no_peers:
                jobs.append(("torch-rechub", model))
        jobs += [(backend, model, "mixed_bfloat16") for backend in bf16]
    jobs += [("gemm", b) for b in ("tensorflow", "torch", "jax")] + [
        ("gemm", b, "bfloat16") for b in bf16
    ]

    results, started = [], time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = os.getloadavg()
    for kind, what, *precision in jobs:
        if kind == "gemm":
            cmd, env = _gemm_cmd(what, *precision)
            res = _run(cmd, env=env)
            res.update(kind="gemm", backend=what, dtype=(precision or ["float32"])[0])
        elif kind in ("deepctr", "torch-rechub"):
            res = _peer(kind, what, args)
        else:
            cmd, env = _tfmtl_cmd(kind, what, args, *precision)
            res = _run(cmd, env=env)
            res.update(kind="tfmtl", backend=kind, model=what)
        print(json.dumps(res), file=sys.stderr, flush=True)
        results.append(res)
        if args.out:  # the table so far, so a cut-short run still leaves its rows
            Path(args.out).write_text(
                render(results, args, started, load_before, os.getloadavg()) + "\n"
            )
    load_after = os.getloadavg()
    table = render(results, args, started, load_before, load_after)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")


def _peer(kind, model, args):
    sys.path.insert(0, str(ROOT))
    from benchmarks import peer_envs

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(BENCH)}
    env.pop("KERAS_BACKEND", None)
    py = peer_envs.ensure("VTF" if kind == "deepctr" else "VPT")
    if model == "mmoe":
        script = BENCH / ("peer_deepctr.py" if kind == "deepctr" else "peer_torch_rechub.py")
        res = _run([str(py), "-c", _RSS_WRAPPER, str(script)], env=env, cwd=str(BENCH))
    else:
        res = _run(
            [str(py), "-c", _RSS_WRAPPER, str(HERE / "peer_ple.py"), kind], env=env, cwd=str(BENCH)
        )
    res.update(kind="peer", backend=kind, model=model)
    return res


def render(results, args, started, load_before, load_after) -> str:
    ceilings = {
        r["backend"]: r["gemm_gflops"]
        for r in results
        if r.get("kind") == "gemm" and "gemm_gflops" in r and r.get("dtype", "float32") == "float32"
    }
    bf16_ceilings = {
        r["backend"]: r["gemm_gflops"]
        for r in results
        if r.get("kind") == "gemm" and "gemm_gflops" in r and r.get("dtype") == "bfloat16"
    }
    for r in results:  # torch-rechub's script measures torch's GEMM too
        if r.get("torch_gemm_gflops"):
            ceilings.setdefault("torch-rechub-run", r["torch_gemm_gflops"])
    peer_base = {
        r["model"]: r["samples_per_s"]["median"]
        for r in results
        if r.get("backend") == "deepctr" and "samples_per_s" in r
    }
    ceiling_of = {
        "deepctr": "tensorflow",
        "torch-rechub": "torch",
        "tensorflow": "tensorflow",
        "jax": "jax",
        "torch": "torch",
    }
    lines = [
        f"Reference workload `../shared/bench/workload.py`, batch 1024, Adam 1e-3, {args.warm} warm-up + "
        f"{args.timed} timed steps x {args.repeats} repeats; started {started}; "
        f"load average (1/5/15 min) before {'/'.join(f'{v:.2f}' for v in load_before)}, "
        f"after {'/'.join(f'{v:.2f}' for v in load_after)}; {os.cpu_count()} CPU cores.",
        "",
        "| model | implementation | samples/s median | min | max | x DeepCTR | GFLOP/s | % of GEMM ceiling | peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if r.get("kind") == "gemm":
            continue
        name = r.get("impl", r.get("backend"))
        if "error" in r:
            lines.append(
                f"| {r.get('model')} | {name} | failed: {r['error'].splitlines()[0]} | | | | | | |"
            )
            continue
        s = r["samples_per_s"]
        base = peer_base.get(r["model"])
        ratio = f"{s['median'] / base:.2f}" if base else "n/a"
        gflops = r.get("gflops") or s["median"] * flops_per_sample(r["model"]) / 1e9
        ceil = (bf16_ceilings if r.get("precision", "float32") != "float32" else ceilings).get(
            ceiling_of.get(r["backend"], "")
        )
        pct = f"{100 * gflops / ceil:.0f}%" if ceil else "n/a"
        rss = f"{r['peak_rss_mb']:.0f}" if r.get("peak_rss_mb") else "n/a"
        lines.append(
            f"| {r['model']} | {name} | {s['median']:,.0f} | {s['min']:,.0f} | {s['max']:,.0f} | {ratio} | "
            f"{gflops:.1f} | {pct} | {rss} |"
        )
    lines += [
        "",
        "GEMM ceilings (2048x2048x2048 float32 matmul, median of 10, GFLOP/s): "
        + ", ".join(f"{k} {v:.1f}" for k, v in ceilings.items()),
    ]
    if bf16_ceilings:
        lines += [
            "",
            "bfloat16 GEMM ceilings (the same matmul in bfloat16; the +bf16 rows' % column): "
            + ", ".join(f"{k} {v:.1f}" for k, v in bf16_ceilings.items()),
        ]
    lines += [""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
