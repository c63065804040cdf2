"""CTFM: Cross-Task Feature Mining at the entry of the task towers (DML eq 5, §2.3)."""

from __future__ import annotations

import keras
from keras import ops

from tfmtl.layers.linear import dense

STOP_GRADIENT = ("all", "others", "none")


@keras.saving.register_keras_serializable(package="tfmtl")
class CTFM(keras.layers.Layer):
    """Cross-Task Feature Mining: each task's tower input attends over every task's.

    DML eq 5: `l̂^1..l̂^K = CTFM(l^1..l^K; θ_s)`, with parameters shared by all tasks (§2.3):

    - `Mat_o = stack_k(l^k + t^k)` `[B, K, d0]` with trainable task embeddings `t^k`;
    - `Mat_q = Mat_o W_q`, `Mat_k = sg(Mat_o) W_k`, `Mat_v = sg(Mat_o) W_v`
      (`W_* ∈ R^{d0×d0}`; `sg` = stop-gradient: "gradient backpropagation from Mat_k and
      Mat_v to Mat_o is forbidden", so task j's loss reaches no other task's tower input);
    - `Mat_r = softmax(Mat_q Mat_kᵀ / sqrt(d0)) Mat_v` (scaled dot-product attention);
    - `l̂^k = (Mat_r + Mat_o)[:, k]` (residual, then split by task).

    `W_k`, `W_v` and the task embeddings still learn (through `Mat_q` and the residual);
    only the path from K/V back into the tower inputs is cut.

    Args:
        num_tasks: int. K, the number of tower inputs.
        stop_gradient: str. Where the K/V path is cut: `"all"` (the paper and its reference
            code: every row of Mat_k, Mat_v), `"others"` (only the other tasks' rows: task k's
            own K/V row keeps its gradient into `l^k`), or `"none"` (vanilla attention, the
            paper's DML_v0 ablation). Defaults to `"all"`.
        use_task_embeddings: bool. Add `t^k` (eq 5's task embeddings). Defaults to `True`.
        projection_activation: str or None. Activation after W_q/W_k/W_v; the paper's
            projections are linear (None, the default), its reference code uses "relu".
        embedding_stddev: float. Std of the normal initialiser of `t^k` (the reference code's
            0.01). Defaults to `0.01`.

    Call arguments:
        inputs: list of K tensors `[B, D]`, all of one width.

    Returns:
        A list of K tensors `[B, D]`.

    Example:

    >>> ls = [np.random.rand(4, 8).astype("float32") for _ in range(2)]
    >>> [tuple(o.shape) for o in tfmtl.layers.CTFM(num_tasks=2)(ls)]
    [(4, 8), (4, 8)]

    Reference: Ren et al., "Deep Mutual Learning across Task Towers for Effective Multi-Task
    Recommender Learning", ORSUM@RecSys'23, eq 5 and §2.3.
    """

    def __init__(
        self,
        num_tasks: int,
        stop_gradient: str = "all",
        use_task_embeddings: bool = True,
        projection_activation: str | None = None,
        embedding_stddev: float = 0.01,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_tasks) < 1:
            raise ValueError(f"CTFM needs num_tasks >= 1. Received: num_tasks={num_tasks}")
        if stop_gradient not in STOP_GRADIENT:
            raise ValueError(
                f"CTFM stop_gradient must be one of {STOP_GRADIENT}. Received: "
                f"stop_gradient={stop_gradient!r}"
            )
        self.num_tasks, self.stop_gradient = int(num_tasks), stop_gradient
        self.use_task_embeddings = bool(use_task_embeddings)
        self.projection_activation = projection_activation
        self.activation = keras.activations.get(projection_activation)
        self.embedding_stddev = float(embedding_stddev)

    def build(self, input_shape):
        shapes = _check_list(input_shape, self.num_tasks, f"CTFM '{self.name}'")
        widths = [int(s[-1]) for s in shapes]
        if len(set(widths)) != 1:
            raise ValueError(
                f"CTFM '{self.name}' stacks the tower inputs, so they need one width. Received "
                "widths "
                f"{widths}; give the backbone equal output sizes (e.g. expert_units ending alike)."
            )
        d = self.dim = widths[0]
        init = keras.initializers.RandomNormal(stddev=self.embedding_stddev)
        if self.use_task_embeddings:
            self.task_embeddings = self.add_weight(
                shape=(self.num_tasks, d), initializer=init, name="task_embeddings"
            )
        self.w_q = self.add_weight(shape=(d, d), initializer="glorot_uniform", name="w_q")
        self.w_k = self.add_weight(shape=(d, d), initializer="glorot_uniform", name="w_k")
        self.w_v = self.add_weight(shape=(d, d), initializer="glorot_uniform", name="w_v")
        self.built = True

    def _project(self, x, w):
        # one 2-D GEMM, not ops.einsum: the latter's gradient is ~30x slower on the TF CPU backend
        return self.activation(dense(x, w))

    def call(self, inputs):
        mat_o = ops.stack(list(inputs), axis=1)  # [B, K, d0]
        if self.use_task_embeddings:
            mat_o = mat_o + self.task_embeddings[None]  # DML §2.3: l^k + t^k
        mat_q = self._project(mat_o, self.w_q)
        if self.stop_gradient == "none":  # DML_v0: vanilla attention
            mat_k, mat_v = self._project(mat_o, self.w_k), self._project(mat_o, self.w_v)
        else:
            blocked = ops.stop_gradient(mat_o)  # DML §2.3: no gradient from Mat_k, Mat_v to Mat_o
            mat_k, mat_v = self._project(blocked, self.w_k), self._project(blocked, self.w_v)
        if self.stop_gradient == "others":
            mat_k, mat_v = self._own_row_kept(mat_o, mat_k, mat_v)  # [B, K(q), K, d0]
            scores = ops.sum(mat_q[:, :, None, :] * mat_k, axis=-1)
        else:
            scores = ops.matmul(mat_q, ops.transpose(mat_k, (0, 2, 1)))
        attention = ops.softmax(scores / float(self.dim) ** 0.5, axis=-1)  # scaled dot-product
        if self.stop_gradient == "others":
            mat_r = ops.sum(attention[..., None] * mat_v, axis=2)
        else:
            mat_r = ops.matmul(attention, mat_v)
        out = mat_r + mat_o  # DML §2.3: residual, then split by task
        return [out[:, k] for k in range(self.num_tasks)]

    def _own_row_kept(self, mat_o, mat_k, mat_v):
        """Per query q, K/V `[B, K(q), K, d]` where only row q keeps its gradient into Mat_o."""
        eye = ops.eye(self.num_tasks, dtype=mat_o.dtype)[None, :, :, None]
        live_k, live_v = self._project(mat_o, self.w_k), self._project(mat_o, self.w_v)

        def mix(live, dead):
            return eye * live[:, None] + (1.0 - eye) * dead[:, None]

        return mix(live_k, mat_k), mix(live_v, mat_v)

    def compute_output_shape(self, input_shape):
        return [tuple(s) for s in input_shape]

    def get_config(self):
        return {
            **super().get_config(),
            "num_tasks": self.num_tasks,
            "stop_gradient": self.stop_gradient,
            "use_task_embeddings": self.use_task_embeddings,
            "projection_activation": self.projection_activation,
            "embedding_stddev": self.embedding_stddev,
        }


def _check_list(input_shape, count: int | None, owner: str) -> list:
    """The per-task shapes of a list input (of `count` tensors, if given), or a ValueError naming
    `owner`."""
    if not (
        isinstance(input_shape, (list, tuple))
        and input_shape
        and isinstance(input_shape[0], (list, tuple))
    ):
        raise ValueError(
            f"{owner} takes a list of per-task tensors [B, d]. Received one input of shape "
            f"{input_shape}."
        )
    if count is not None and len(input_shape) != count:
        raise ValueError(
            f"{owner} was built for {count} tasks but received a list of {len(input_shape)} "
            "tensors."
        )
    return [tuple(s) for s in input_shape]
