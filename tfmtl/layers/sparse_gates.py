"""Sparse gate kinds for `Gate`: top-k (Shazeer et al., ICLR'17) and DSelect-k (Hazimeh et al.).

Every kind maps one gate's logits `[..., logit width]` to weights `[..., E]` that are
non-negative and sum to 1, plus an auxiliary loss (or `None`) that `Gate` adds with
`add_loss`:

- `"softmax"`: `softmax(z)` (PLE eq 3), width E, no loss.
- `"topk"`: the k largest logits of a row, softmaxed, zeros elsewhere (Shazeer eq 3-5 without
  the noise), width E; loss: the importance CV² of Shazeer eq 6-7.
- `"dselect"`: per-example DSelect-k (Hazimeh et al., NeurIPS'21, eq 4-7), width
  `k * ceil(log2 E) + k`; loss: the selectors' entropy (DSelect-k §3.2's regulariser).

A switcher's `gate` argument is a kind name or a dict of `Gate` options,
`{"kind": "dselect", "k": 2, "loss_weight": 0.01, "gamma": 1.0}`; `gate_options` checks it.
"""

from __future__ import annotations

import math

import numpy as np
from keras import ops

GATE_KINDS = ("softmax", "topk", "dselect")
GATE_DEFAULTS = {"kind": "softmax", "k": 2, "loss_weight": 0.01, "gamma": 1.0}
_EPSILON = 1e-7


def gate_options(gate) -> dict:
    """A switcher's `gate` argument (a kind name or a dict) as the full dict of `Gate` options.

    Example:

    >>> from tfmtl.layers.sparse_gates import gate_options
    >>> gate_options({"kind": "topk", "k": 1})
    {'kind': 'topk', 'k': 1, 'loss_weight': 0.01, 'gamma': 1.0}
    """
    if gate is None:
        gate = "softmax"
    if isinstance(gate, str):
        gate = {"kind": gate}
    if not isinstance(gate, dict):
        raise TypeError(
            f"gate must be one of {', '.join(GATE_KINDS)} or a dict with keys "
            f"{', '.join(GATE_DEFAULTS)}. Received: gate={gate!r}"
        )
    unknown = sorted(set(gate) - set(GATE_DEFAULTS))
    if unknown:
        raise ValueError(
            f"gate has unknown option(s) {unknown}; it takes {', '.join(GATE_DEFAULTS)}. "
            f"Received: gate={gate!r}"
        )
    options = {**GATE_DEFAULTS, **gate}
    check_gate_options(**options)
    return {
        "kind": options["kind"],
        "k": int(options["k"]),
        "loss_weight": float(options["loss_weight"]),
        "gamma": float(options["gamma"]),
    }


def check_gate_options(kind, k, loss_weight, gamma) -> None:
    """Raises a `ValueError` naming the bad option; see `gate_options`."""
    if kind not in GATE_KINDS:
        raise ValueError(
            f"Unknown gate kind {kind!r}; choose one of: {', '.join(GATE_KINDS)}. "
            f"Received: kind={kind!r}"
        )
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"A {kind} gate needs an int k >= 1. Received: k={k!r}")
    if not isinstance(loss_weight, (int, float)) or loss_weight < 0:
        raise ValueError(
            f"A {kind} gate needs loss_weight >= 0. Received: loss_weight={loss_weight!r}"
        )
    if not isinstance(gamma, (int, float)) or gamma <= 0:
        raise ValueError(f"A {kind} gate needs gamma > 0. Received: gamma={gamma!r}")


def num_bits(num_experts: int) -> int:
    """m = ceil(log2 E): the binary code length of a DSelect-k selector (0 for one expert)."""
    return int(math.ceil(math.log2(num_experts))) if num_experts > 1 else 0


def logit_width(kind: str, num_experts: int, k: int) -> int:
    """Width of one gate's linear head: E for softmax/top-k, `k * m + k` for DSelect-k."""
    if kind == "dselect":
        return k * num_bits(num_experts) + k
    return num_experts


def gate_weights(kind: str, logits, num_experts: int, k: int, gamma: float):
    """The pair `(weights [..., E], auxiliary loss or None)` of one gate kind on its logits."""
    if kind == "softmax":
        return ops.softmax(logits, axis=-1), None
    dtype = logits.dtype
    z = ops.cast(logits, "float32")
    if kind == "topk":
        weights = topk_weights(z, k)
        loss = importance_loss(weights)
    else:
        weights, selectors = dselect_weights(z, num_experts, k, gamma)
        loss = selector_entropy(selectors)
    return ops.cast(weights, dtype), loss


def topk_weights(logits, k: int):
    """Top-k gate (Shazeer eq 3-5 without noise): softmax over the k largest logits, 0 elsewhere.

    `KeepTopK(z, k)` sets every logit but the k largest to `-inf`, so
    `G(x) = softmax(KeepTopK(z, k))`; computed as `mask * exp(z - max z)` over its sum, which
    equals that softmax and gives no NaN gradient. With `k >= E` it is the softmax gate.

    Example:

    >>> from tfmtl.layers.sparse_gates import topk_weights
    >>> w = topk_weights(np.log(np.array([[1.0, 2.0, 3.0, 6.0]], "float32")), k=2)
    >>> np.round(np.asarray(w, "float64"), 3).tolist()
    [[0.0, 0.0, 0.333, 0.667]]
    """
    num_experts = int(logits.shape[-1])
    if k >= num_experts:
        return ops.softmax(logits, axis=-1)
    _, indices = ops.top_k(logits, k)  # [..., k]: integer indices carry no gradient
    mask = ops.sum(ops.one_hot(indices, num_experts, dtype=logits.dtype), axis=-2)
    shifted = logits - ops.stop_gradient(ops.max(logits, axis=-1, keepdims=True))
    kept = mask * ops.exp(shifted)  # the row's maximum is kept: the sum is >= 1
    return kept / ops.sum(kept, axis=-1, keepdims=True)


def importance_loss(weights):
    """Shazeer eq 6-7: `CV(Importance)^2`, `Importance_e = sum_x G(x)_e` over the batch.

    The batch axis is the first; any axes between it and the experts' (several gates of one
    head) get one CV² each, averaged. CV is scale-free, so the mean stands in for the sum.
    """
    importance = ops.mean(weights, axis=0)  # [..., E]
    mean = ops.mean(importance, axis=-1)
    variance = ops.var(importance, axis=-1)
    return ops.mean(variance / (ops.square(mean) + _EPSILON))


def smooth_step(t, gamma: float):
    """The cubic smooth-step of DSelect-k eq 4: 0 below -γ/2, 1 above γ/2, a cubic between.

    `S(t) = -2/γ³ t³ + 3/(2γ) t + 1/2` on `[-γ/2, γ/2]`; evaluated at t clipped to that
    interval, which gives the same values and a zero gradient outside it.

    Example:

    >>> from tfmtl.layers.sparse_gates import smooth_step
    >>> t = np.array([-1.0, -0.25, 0.0, 0.25, 1.0], "float32")
    >>> np.round(np.asarray(smooth_step(t, 1.0), "float64"), 4).tolist()
    [0.0, 0.1562, 0.5, 0.8438, 1.0]
    """
    t = ops.clip(t, -gamma / 2.0, gamma / 2.0)
    return -2.0 / gamma**3 * t**3 + 3.0 / (2.0 * gamma) * t + 0.5


def _codes(num_experts: int) -> np.ndarray:
    """`[2^m, m]` binary codes: row l holds the bits of l (bit j = (l >> j) & 1)."""
    m = num_bits(num_experts)
    return ((np.arange(2**m)[:, None] >> np.arange(m)[None, :]) & 1).astype("float32")


def dselect_weights(logits, num_experts: int, k: int, gamma: float):
    """Per-example DSelect-k: k selectors mixed by a softmax (DSelect-k eq 5-7).

    `logits [..., k*m + k]` hold k selectors' m bit logits `z_i`, then k selector logits `α`.
    Selector i is `r(z_i)_l = prod_j S(z_ij)^[bit j of l] (1 - S(z_ij))^[1 - bit j of l]`
    (eq 5), a distribution over the `2^m` codes; the gate is `sum_i softmax(α)_i r(z_i)`
    (eq 6-7). For E not a power of two the codes `>= E` name no expert: each selector is
    masked to the first E codes and renormalised, `(r + ε) / (sum r + E ε)`, so a selector
    whose mass sits on unused codes falls back to uniform instead of dividing by 0.

    Returns:
        The pair `(weights [..., E], selectors [..., k, E])`, each row a distribution.

    Example:

    >>> from tfmtl.layers.sparse_gates import dselect_weights
    >>> z = np.array([[-9.0, 9.0, 9.0, 9.0, 0.0, 0.0]], "float32")  # codes 2 and 3, equal α
    >>> w, _ = dselect_weights(z, num_experts=4, k=2, gamma=1.0)
    >>> np.round(np.asarray(w, "float64"), 3).tolist()
    [[0.0, 0.0, 0.5, 0.5]]
    """
    m = num_bits(num_experts)
    lead = tuple(logits.shape[:-1])
    if m == 0:  # one expert: every selector picks it
        ones = ops.ones_like(logits[..., :1])
        return ones, ops.expand_dims(ops.repeat(ones, k, axis=-1), -1)
    bits = smooth_step(ops.reshape(logits[..., : k * m], (-1,) + lead[1:] + (k, m)), gamma)
    alpha = logits[..., k * m :]  # [..., k] selector logits; one selector has weight 1
    alpha = ops.softmax(alpha, axis=-1) if k > 1 else ops.ones_like(alpha)
    codes = ops.convert_to_tensor(_codes(num_experts))  # [2^m, m]
    s = ops.expand_dims(bits, -2)  # [..., k, 1, m]
    selectors = ops.prod(codes * s + (1.0 - codes) * (1.0 - s), axis=-1)  # [..., k, 2^m]
    if num_experts < 2**m:
        selectors = selectors[..., :num_experts] + _EPSILON
        selectors = selectors / ops.sum(selectors, axis=-1, keepdims=True)
    weights = ops.sum(ops.expand_dims(alpha, -1) * selectors, axis=-2)
    return weights, selectors


def selector_entropy(selectors):
    """DSelect-k's regulariser: the mean entropy `-sum_l r_l log r_l` of every selector.

    It is 0 when each selector picks one expert; training on it pushes the gate to exactly k
    experts (DSelect-k §3.2). `r log max(r, ε)` keeps the gradient finite at `r = 0`.
    """
    entropy = -ops.sum(selectors * ops.log(ops.maximum(selectors, _EPSILON)), axis=-1)
    return ops.mean(entropy)
