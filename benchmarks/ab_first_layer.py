"""A/B of the first expert layer on the reference workload: one GEMM vs. via the tables.

The first layer reads `x = [E_1[id_1] | ... | E_33[id_33] | dense]`, so
`x @ W = sum_f (E_f @ W_f)[id_f] + dense @ W_dense` (the same numbers, summed in another order):
with 33 tables of <= 50 rows, `E_f @ W_f` is ~30x fewer multiply-adds than `x @ W`, and the
sum of rows is an embedding bag. Whether that is faster depends on the backend's bag kernel:
this script times forward + backward (gradients of the tables and W) of both forms, per
framework, and checks that the loss and gradient norms agree.

    python benchmarks/ab_first_layer.py --framework torch      # tf | jax | torch
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

B, F, V, E, ND = 1024, 33, 26, 16, 7
N = 8 * 256 + 2 * 8  # 8 experts' first layers (256) and the two gates of MMoE: one wide kernel
ROUNDS = 30


def inputs():
    rng = np.random.default_rng(0)
    ids = (
        rng.integers(0, V, size=(B, F)) + np.arange(F) * V
    )  # one table of F * V rows, offset per feature
    return (
        ids,
        rng.normal(size=(B, ND)).astype("float32"),
        rng.normal(size=(F * V, E)).astype("float32"),
        (rng.normal(size=(F * E + ND, N)).astype("float32") * 0.05),
    )


def clock(step) -> float:
    step()
    t0 = time.perf_counter()
    for _ in range(ROUNDS):
        step()
    return (time.perf_counter() - t0) / ROUNDS * 1e3


def run_torch():
    import torch

    ids, dense, tables, w = (torch.tensor(a) for a in inputs())
    tables.requires_grad_(True), w.requires_grad_(True)
    forms = {
        "gemm": lambda: torch.cat([tables[ids].reshape(B, F * E), dense], 1) @ w,
        "factorised (embedding_bag)": lambda: (
            torch.nn.functional.embedding_bag(
                ids,
                torch.bmm(tables.view(F, V, E), w[: F * E].view(F, E, N)).reshape(F * V, N),
                mode="sum",
            )
            + dense @ w[F * E :]
        ),
    }
    for name, form in forms.items():

        def step():
            tables.grad = w.grad = None
            loss = (torch.relu(form()) * 1e-3).sum()
            loss.backward()
            return loss.item(), tables.grad.norm().item(), w.grad.norm().item()

        yield name, clock(step), step()


def run_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    ids, dense, tables, w = inputs()
    ids, dense = tf.constant(ids, tf.int32), tf.constant(dense)
    tables, w = tf.Variable(tables), tf.Variable(w)

    def gemm():
        return tf.concat([tf.reshape(tf.gather(tables, ids), (B, F * E)), dense], 1) @ w

    def factorised():
        p = tf.reshape(
            tf.matmul(tf.reshape(tables, (F, V, E)), tf.reshape(w[: F * E], (F, E, N))), (F * V, N)
        )
        return tf.math.unsorted_segment_sum(
            tf.gather(p, tf.reshape(ids, (-1,))), tf.repeat(tf.range(B), F), B
        ) + (dense @ w[F * E :])

    for name, form in (("gemm", gemm), ("factorised (segment sum)", factorised)):
        for jit in (False, True):

            @tf.function(jit_compile=jit)
            def step():
                with tf.GradientTape() as tape:
                    loss = tf.reduce_sum(tf.nn.relu(form()) * 1e-3)
                g = tape.gradient(loss, [tables, w])
                return loss, tf.norm(g[0]), tf.norm(g[1])

            yield f"{name}{' +XLA' if jit else ''}", clock(step), tuple(float(v) for v in step())


def run_jax():
    import jax
    import jax.numpy as jnp

    ids, dense, tables, w = (jnp.asarray(a) for a in inputs())

    def gemm(t, k):
        return jnp.concatenate([t[ids].reshape(B, F * E), dense], 1) @ k

    def factorised(t, k):
        p = jnp.einsum("fve,fen->fvn", t.reshape(F, V, E), k[: F * E].reshape(F, E, N)).reshape(
            F * V, N
        )
        return sum(p[ids[:, f]] for f in range(F)) + dense @ k[F * E :]

    for name, form in (("gemm +jit", gemm), ("factorised (row gathers) +jit", factorised)):
        grad = jax.jit(
            jax.value_and_grad(lambda t, k: (jax.nn.relu(form(t, k)) * 1e-3).sum(), argnums=(0, 1))
        )

        def step():
            loss, (gt, gk) = grad(tables, w)
            return float(loss), float(jnp.linalg.norm(gt)), float(jnp.linalg.norm(gk))

        yield name, clock(step), step()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--framework", choices=("tf", "jax", "torch"), default="torch")
    args = p.parse_args()
    for name, ms, (loss, g_tables, g_w) in {"tf": run_tf, "jax": run_jax, "torch": run_torch}[
        args.framework
    ]():
        print(
            f"{args.framework:5s} {name:32s} {ms:7.1f} ms/step  loss {loss:.4f}  "
            f"|dtables| {g_tables:.3f}  |dW| {g_w:.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
