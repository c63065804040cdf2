"""Before/after of the fused level (one wide GEMM for the experts' first layer + every gate).

Two copies of tfmtl MMoE on the reference workload, same weights, in ONE process: "fused"
(the library: `run_banks`, multiply-sum `mix`) and "unfused" (the pre-issue-10 path: one einsum
per expert layer, one matmul per gate, einsum mix). Their train steps alternate in rounds, so
machine load hits both alike.

    KERAS_BACKEND=torch python benchmarks/ab_fusion.py --rounds 4 --steps 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.throughput_worker import build  # noqa: E402


def unfused_forward(self, x):
    """The unfused MMoE.forward: an ExpertBank einsum per layer, a Gate per gate, einsum mix."""
    from keras import ops

    def mix(w, experts):
        return ops.einsum("be,beu->bu", w, experts)

    h = x
    for kernel, bias in zip(self.experts.kernels, self.experts.biases):
        h = (
            ops.einsum("bd,edu->beu", h, kernel)
            if len(h.shape) == 2
            else ops.einsum("bed,edu->beu", h, kernel)
        )
        h = ops.relu(h + bias)
    weights = [ops.softmax(ops.matmul(x, g.kernel) + g.bias, axis=-1) for g in self.gates]
    return [mix(weights[k % len(weights)], h) for k in range(self.num_outputs)], weights


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args()

    import keras

    from tfmtl.layers.mmoe import MMoE
    from tfmtl.losses import MaskedLoss

    backend = keras.backend.backend()
    fused_forward = MMoE.forward
    W, fused, x, y = build("mmoe")
    MMoE.forward = unfused_forward
    _, unfused, _, _ = build("mmoe")
    MMoE.forward = fused_forward
    unfused.set_weights(fused.get_weights())
    variants = {"fused": (fused, fused_forward), "unfused": (unfused, unfused_forward)}
    b = W.BATCH
    for name, (model, fwd) in variants.items():
        MMoE.forward = fwd  # traced (TF/JAX) or run (torch) with its own forward
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss={t: MaskedLoss("binary", name=f"{t}_loss") for t in y},
            jit_compile=backend != "torch",
        )

    def batch(i):
        return (
            {k: v[i * b : (i + 1) * b] for k, v in x.items()},
            {k: v[i * b : (i + 1) * b] for k, v in y.items()},
        )

    losses = {}
    # Compile and warm up; an equal first-step loss means both variants compute the same numbers.
    for name, (model, fwd) in variants.items():
        MMoE.forward = fwd
        out = model.train_on_batch(*batch(0))
        losses[name] = float(out[0] if isinstance(out, (list, tuple)) else out)
        for i in range(1, 4):
            model.train_on_batch(*batch(i))
    rates = {n: [] for n in variants}
    for r in range(args.rounds):
        for name, (model, fwd) in variants.items():
            MMoE.forward = fwd
            t0 = time.perf_counter()
            for i in range(args.steps):
                model.train_on_batch(*batch(4 + i))
            rates[name].append(args.steps * b / (time.perf_counter() - t0))
    MMoE.forward = fused_forward
    med = {n: statistics.median(v) for n, v in rates.items()}
    print(
        f"{backend}{' (jit)' if backend != 'torch' else ''}: fused {med['fused']:,.0f} samples/s, "
        f"unfused {med['unfused']:,.0f} (x{med['fused'] / med['unfused']:.2f}); first-step loss "
        f"fused {losses['fused']:.6f} unfused {losses['unfused']:.6f}; "
        f"rounds {args.rounds} x {args.steps} steps; "
        f"load {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
