"""Latency timing for the serving benchmarks: repeated calls, round-robin calls, percentiles."""

from __future__ import annotations

import time

import numpy as np


def percentiles(seconds: list[float]) -> dict:
    """p50, p99 and mean in milliseconds of `seconds`, and how many there were."""
    ms = np.asarray(seconds) * 1e3
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "mean_ms": round(float(ms.mean()), 3),
        "n": int(ms.size),
    }


def timed(fn, n: int, warmup: int = 5) -> list[float]:
    """Seconds of each of `n` calls of `fn`, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def interleaved(fns, n: int, warmup: int = 5) -> list[list[float]]:
    """Time each of `fns` n times, round-robin: one call of each per round."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    out = [[] for _ in fns]
    for _ in range(n):
        for fn, times in zip(fns, out):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return out
