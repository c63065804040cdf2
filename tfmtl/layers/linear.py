"""Matrix products that never ask a backend for a broadcasting batched matmul.

TensorFlow 2.21's oneDNN CPU kernel for a broadcasting `BatchMatMulV2` (batch axes of
different sizes: `[B, 1, L, d] @ [d, d]`, `[B, 1, L, d] @ [1, d, d]`) corrupts the heap on
AVX-512 machines: the process aborts in malloc or segfaults, in training and in a served
SavedModel alike. These helpers keep every product on a plain path: a shared kernel is one
`[N, d] @ [d, e]` GEMM over the flattened rows (also the fastest form on every backend), and a
batched product gets batch axes of equal sizes.

Example:

>>> x = np.ones((4, 1, 5, 8), "float32")
>>> tuple(dense(x, np.ones((8, 2), "float32")).shape)
(4, 1, 5, 2)
>>> tuple(dense(x, np.ones((3, 8, 2), "float32")).shape)  # one kernel per task
(4, 3, 5, 2)
"""

from __future__ import annotations

from keras import ops


def dense(x, kernel):
    """`x @ kernel` for `x` `[B, *lead, d]`: one shared kernel `[d, e]` or task kernels `[T, d, e]`.

    With per-task kernels `x` is `[B, T or 1, L, d]` (a size-1 task axis is repeated) and the
    result `[B, T, L, e]`. The axes between the batch and the last must be static.
    """
    if len(kernel.shape) == 3:
        return ops.einsum("btld,tde->btle", repeat_to(x, kernel.shape[0], axis=1), kernel)
    lead = tuple(x.shape[1:-1])
    if any(size is None for size in lead):
        raise ValueError(
            f"dense() needs static inner axes; received an input of shape {tuple(x.shape)}."
        )
    y = ops.matmul(ops.reshape(x, (-1, x.shape[-1])), kernel)
    return ops.reshape(y, (-1, *lead, kernel.shape[-1]))


def batch_matmul(a, b, axis: int = 1):
    """`a @ b` over equal batch axes: whichever side has size 1 on `axis` is repeated to the
    other's size."""
    size = max(a.shape[axis], b.shape[axis])
    return ops.matmul(repeat_to(a, size, axis), repeat_to(b, size, axis))


def repeat_to(x, size: int, axis: int):
    """`x` with its `axis` grown from 1 to `size` (unchanged when it already has that size)."""
    if x.shape[axis] == size:
        return x
    if x.shape[axis] != 1:
        raise ValueError(f"Cannot repeat axis {axis} of shape {tuple(x.shape)} to size {size}.")
    return ops.repeat(x, size, axis=axis)
