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
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
# The workload's model and the in-process measurements (`--worker`, `--gemm`).
from benchmarks.throughput_worker import (  # noqa: E402
    BENCH,
    flops_per_sample,
    gemm_ceiling,
    load_workload,
    worker,
)

BACKENDS = ("tensorflow", "jax", "torch")
MODELS = ("mmoe", "ple")


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
    "import json, resource, runpy, sys; sys.argv = sys.argv[1:]; "
    "runpy.run_path(sys.argv[0], run_name='__main__'); "
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


def parse_args(argv=None) -> argparse.Namespace:
    """The command line; `--warm`/`--timed` default to the workload's, `--quick` shrinks them."""
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
    p.add_argument("--batch", type=int, default=None, help=argparse.SUPPRESS)  # the workload's
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
    W = load_workload()
    if args.quick:
        args.warm, args.timed, args.repeats, args.no_peers = 3, 10, 1, True
    args.warm = W.STEPS_WARM if args.warm is None else args.warm
    args.timed = W.STEPS_TIMED if args.timed is None else args.timed
    return args


def plan_jobs(args: argparse.Namespace) -> list[tuple]:
    """`(kind, model or backend, *precision)` per run, interleaved: peer, tfmtl, peer, ..."""
    backends = [b for b in args.backends.split(",") if b]
    models = [m for m in args.models.split(",") if m]
    bf16 = [b for b in args.bf16_backends.split(",") if b in backends] if cpu_has_bf16() else []
    jobs = []
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
    return jobs


def run_job(kind: str, what: str, precision: list, args: argparse.Namespace) -> dict:
    """Runs one planned job in its own process; its result, labelled with kind and backend."""
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
    return res


def main(argv=None):
    args = parse_args(argv)
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

    jobs = plan_jobs(args)
    results, started = [], time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = os.getloadavg()
    for kind, what, *precision in jobs:
        res = run_job(kind, what, precision, args)
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


def _ceilings(results: list[dict]) -> tuple[dict, dict]:
    """GEMM GFLOP/s by backend: float32, and bfloat16, from the `gemm` jobs' results."""
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
    return ceilings, bf16_ceilings


# The backend whose GEMM ceiling each implementation's GFLOP/s is compared with.
CEILING_OF = {
    "deepctr": "tensorflow",
    "torch-rechub": "torch",
    "tensorflow": "tensorflow",
    "jax": "jax",
    "torch": "torch",
}


def _table_row(r: dict, peer_base: dict, ceilings: dict, bf16_ceilings: dict) -> str:
    """One implementation's row of the table; a failed run names its error."""
    name = r.get("impl", r.get("backend"))
    if "error" in r:
        return f"| {r.get('model')} | {name} | failed: {r['error'].splitlines()[0]} | | | | | | |"
    s = r["samples_per_s"]
    base = peer_base.get(r["model"])
    ratio = f"{s['median'] / base:.2f}" if base else "n/a"
    gflops = r.get("gflops") or s["median"] * flops_per_sample(r["model"]) / 1e9
    ceil = (bf16_ceilings if r.get("precision", "float32") != "float32" else ceilings).get(
        CEILING_OF.get(r["backend"], "")
    )
    pct = f"{100 * gflops / ceil:.0f}%" if ceil else "n/a"
    rss = f"{r['peak_rss_mb']:.0f}" if r.get("peak_rss_mb") else "n/a"
    return (
        f"| {r['model']} | {name} | {s['median']:,.0f} | {s['min']:,.0f} | {s['max']:,.0f} | "
        f"{ratio} | {gflops:.1f} | {pct} | {rss} |"
    )


def render(results, args, started, load_before, load_after) -> str:
    """The Markdown report: the run's settings, a row per implementation, the GEMM ceilings."""
    ceilings, bf16_ceilings = _ceilings(results)
    peer_base = {
        r["model"]: r["samples_per_s"]["median"]
        for r in results
        if r.get("backend") == "deepctr" and "samples_per_s" in r
    }
    lines = [
        f"Reference workload `../shared/bench/workload.py`, batch 1024, Adam 1e-3, "
        f"{args.warm} warm-up + {args.timed} timed steps x {args.repeats} repeats; "
        f"started {started}; "
        f"load average (1/5/15 min) before {'/'.join(f'{v:.2f}' for v in load_before)}, "
        f"after {'/'.join(f'{v:.2f}' for v in load_after)}; {os.cpu_count()} CPU cores.",
        "",
        "| model | implementation | samples/s median | min | max | x DeepCTR | GFLOP/s "
        "| % of GEMM ceiling | peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        _table_row(r, peer_base, ceilings, bf16_ceilings)
        for r in results
        if r.get("kind") != "gemm"
    ]
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
    main()
