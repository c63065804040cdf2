"""The training-throughput workload in tfmtl, and what one worker process measures.

`build` makes the shared reference workload's spec, tasks and tfmtl model
(`../shared/bench/workload.py`); `worker` trains it with `model.fit` and times the steps
as the peer scripts do; `gemm_ceiling` times a 2048^3 matmul on a backend.
`benchmarks/train_throughput.py` runs each in its own process.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

# ../shared/bench beside the checkout, or TFMTL_BENCH_DIR (a machine where it lies elsewhere)
BENCH = Path(
    os.environ.get("TFMTL_BENCH_DIR") or Path(__file__).resolve().parents[2] / "shared" / "bench"
)
# PLE on the same workload: 2 levels of 2 task-specific + 4 shared experts (8 a level, as
# MMoE's 8), every expert (256, 128) (DeepCTR reuses expert_dnn_hidden_units at every level).
PLE = {"num_levels": 2, "num_task_experts": 2, "num_shared_experts": 4}


def load_workload():
    """The shared reference workload module, `../shared/bench/workload.py`."""
    sys.path.insert(0, str(BENCH))
    import workload as W

    return W


def flops_per_sample(model: str) -> float:
    """Training FLOPs per sample (2 x multiply-adds x 3 for forward + backward), as workload.py."""
    W = load_workload()
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


def build(model: str, lookup: bool = False, rows: int | None = None):
    """The workload's spec, tasks and tfmtl model (ids as `FeatureSpec.encode` gives them);
    `rows` of data (default: the workload's)."""
    import tfmtl
    from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec

    W = load_workload()
    vocab, cats, dense, y1, y2 = W.make() if rows is None else W.make(rows=rows)
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
    batch = args.batch or load_workload().BATCH
    W, model, x, y = build(args.model, rows=(args.warm + args.timed) * batch)
    jit = {"on": True, "off": False}[args.jit]
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss={t: MaskedLoss("binary", name=f"{t}_loss") for t in y},  # no metrics, as the peers
        jit_compile=jit,
    )
    warm, timed = args.warm, args.timed
    n = (warm + timed) * batch
    x = {k: v[:n] for k, v in x.items()}
    y = {k: v[:n] for k, v in y.items()}
    if args.pipeline == "tfdata":
        import tensorflow as tf

        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).prefetch(tf.data.AUTOTUNE)
        fit_kwargs = {}
    else:
        data, fit_kwargs = x, {"y": y, "batch_size": batch, "shuffle": False}

    class Timer(keras.callbacks.Callback):  # the peers' timer: steps warm .. warm + timed
        def on_train_batch_end(self, batch, logs=None):
            if batch == warm - 1:
                self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.rate = timed * batch / (time.perf_counter() - self.t0)

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
        "batch": batch,
    }


def gemm_ceiling(backend: str, dtype: str = "float32") -> float:
    """Median GFLOP/s of a 2048^3 matmul on `backend` (as the shared scripts measure)."""
    import numpy as np

    a = np.random.default_rng(0).normal(size=(2048, 2048)).astype("float32")
    if backend == "torch":
        import torch

        ta = torch.from_numpy(a).to(getattr(torch, dtype))

        def f():
            return ta @ ta

    elif backend == "jax":
        import jax

        ja = jax.numpy.asarray(a, dtype=dtype)
        g = jax.jit(lambda m: m @ m)

        def f():
            return g(ja).block_until_ready()

    else:
        import tensorflow as tf

        ta = tf.cast(tf.constant(a), dtype)
        g = tf.function(lambda: tf.matmul(ta, ta))

        def f():
            return g().numpy()

    f()
    ts = []
    for _ in range(10):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return 2 * 2048**3 / sorted(ts)[5] / 1e9
