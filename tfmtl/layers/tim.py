"""TIM: the Task-specific Interest Module of DTRN (CIKM'23 §3.3)."""

from __future__ import annotations

import math

import keras
from keras import ops

from tfmtl.layers.hypernetwork import HyperNetwork
from tfmtl.layers.linear import batch_matmul, dense

INJECTIONS = ("ln", "qkv", "ffn1", "ffn2")
EPSILON = 1e-5
_NEG = -1e9


@keras.saving.register_keras_serializable(package="tfmtl")
class TIM(keras.layers.Layer):
    """Task-specific interests from M behaviour sequences for T tasks with ONE transformer.

    One base encoder-decoder transformer is shared by every (task t, behaviour b) pair; a
    hypernetwork over the task-type embedding `T_t` and the behaviour-type embedding `BS_b`
    conditions it (DTRN eq 2), so the parameter count does not grow with T × M.

    - Conditional LayerNorm (DTRN eq 6, `injection="ln"`, the paper's choice):
      `CLN^l_{t,b}(X) = γ^l_{t,b} · γ^l · (X - μ) / δ + β^l_{t,b} + β^l`, with
      `γ^l_{t,b} = 1 + MLP_{θ^l_γ}(T_t, BS_b)` (eq 2 with the generator's output bias offset
      by one, so every pair starts at the plain LayerNorm) and `β^l_{t,b} = MLP_{θ^l_β}(...)`.
    - Other injection sites (DTRN §5.2.2, Table 6) by the residual mechanism
      `W_{t,b} = W ⊙ (1 + ΔW_{t,b})`, ΔW reshaped from a generator's output: `"qkv"` (the
      query/key/value matrices of both attentions), `"ffn1"` (W1, b1 of both FFNs), `"ffn2"`
      (W2, b2). Sites not injected use the shared weights (and a plain LayerNorm).
    - Encoder-decoder (DTRN eq 7), per pair:
      `out0 = CLN(X + MHSA(X))`, `out_enc = CLN(out0 + FFN(out0))`,
      `out3 = CLN(e_item + MHA(e_item, out_enc))`, `out_dec = CLN(out3 + FFN(out3))`,
      with `MHSA` of eq 3-4 (no biases, `d' = d / h`) and `FFN(X) = ReLU(X W1 + b1) W2 + b2`
      (eq 5). The decoder's query is the target item: target attention.
    - Task-specific interest (DTRN eq 8): `interest_t = concat(out_dec_{t,1..M})`.

    Padded positions (mask 0) are never attended to: their attention weight is exactly 0,
    so they cannot change the output; an empty sequence contributes a zero attention output.

    Args:
        num_tasks: int. T, the number of task-type embeddings (1 gives a task-shared module).
        num_behaviours: int. M, the number of behaviour sequences (one type embedding each).
        num_heads: int. Attention heads h; must divide the item embedding size d. Defaults to 2.
        ffn_units: int or None. Hidden width d_f of the FFNs. Defaults to `4 * d`.
        hyper_units: int. Hidden width of every hypernetwork MLP. Defaults to 32.
        type_dim: int or None. Size of the task and behaviour type embeddings. Defaults to d.
        injection: str or list of str from `("ln", "qkv", "ffn1", "ffn2")`. Where the
            hypernetwork's parameters go. Defaults to `"ln"` (DTRN's CLN).

    Call arguments:
        target: tensor `[B, D]`. The target item's embedding.
        sequences: list of M tensors `[B, L, D]`. The embedded behaviour sequences.
        masks: list of M tensors `[B, L]`. 1 = item, 0 = padding.

    Returns:
        One tensor `[B, T, M * D]`: row t is `interest_t`.

    Example:

    >>> tim = tfmtl.layers.TIM(num_tasks=2, num_behaviours=2, num_heads=2)
    >>> seqs = [np.random.rand(4, 5, 8).astype("float32") for _ in range(2)]
    >>> masks = [np.ones((4, 5), "float32") for _ in range(2)]
    >>> tuple(tim(np.random.rand(4, 8).astype("float32"), seqs, masks).shape)
    (4, 2, 16)

    Reference: Liu et al., "Deep Task-specific Bottom Representation Network for Multi-Task
    Recommendation", CIKM'23, §3.3.
    """

    def __init__(
        self,
        num_tasks: int,
        num_behaviours: int,
        num_heads: int = 2,
        ffn_units: int | None = None,
        hyper_units: int = 32,
        type_dim: int | None = None,
        injection="ln",
        **kwargs,
    ):
        # LayerNorm's variance epsilon; configs that recorded another one keep it.
        epsilon = float(kwargs.pop("epsilon", EPSILON))
        super().__init__(**kwargs)
        for arg, value in (
            ("num_tasks", num_tasks),
            ("num_behaviours", num_behaviours),
            ("num_heads", num_heads),
            ("hyper_units", hyper_units),
        ):
            if int(value) < 1:
                raise ValueError(f"TIM needs `{arg}` >= 1. Received: `{arg}={value}`")
        injection = [injection] if isinstance(injection, str) else list(injection)
        unknown = [i for i in injection if i not in INJECTIONS]
        if not injection or unknown or len(set(injection)) != len(injection):
            raise ValueError(
                f"TIM `injection` must be distinct names from {INJECTIONS}. Received: "
                f"`injection={injection}`"
            )
        self.num_tasks, self.num_behaviours = int(num_tasks), int(num_behaviours)
        self.num_heads, self.hyper_units = int(num_heads), int(hyper_units)
        self.ffn_units = None if ffn_units is None else int(ffn_units)
        self.type_dim = None if type_dim is None else int(type_dim)
        self.injection, self.epsilon = injection, float(epsilon)

    # -- weights -----------------------------------------------------------------------
    def build(self, target_shape, sequences_shape=None, masks_shape=None):
        d = int(target_shape[-1])
        if sequences_shape is not None:
            if len(sequences_shape) != self.num_behaviours:
                raise ValueError(
                    f"TIM '{self.name}' has num_behaviours={self.num_behaviours} but received "
                    f"{len(sequences_shape)} sequences."
                )
            widths = [int(s[-1]) for s in sequences_shape]
            if any(w != d for w in widths):
                raise ValueError(
                    f"TIM '{self.name}': every behaviour sequence must be embedded like the "
                    "target item "
                    f"(d={d}). Received sequence widths {widths}."
                )
        if d % self.num_heads:
            raise ValueError(
                f"TIM `num_heads`={self.num_heads} must divide the item embedding size d={d}."
            )
        self.d = d
        f = self.ffn_units or 4 * d
        c = self.type_dim or d
        self.task_embedding = self.add_weight(
            name="task_embedding", shape=(self.num_tasks, c), initializer="uniform"
        )
        self.behaviour_embedding = self.add_weight(
            name="behaviour_embedding", shape=(self.num_behaviours, c), initializer="uniform"
        )
        self.blocks = []
        for block in ("encoder", "decoder"):
            w = {
                f"w{m}": self.add_weight(
                    name=f"{block}_w{m}", shape=(d, d), initializer="glorot_uniform"
                )
                for m in "qkvo"
            }
            w["w1"] = self.add_weight(
                name=f"{block}_ffn_w1", shape=(d, f), initializer="glorot_uniform"
            )
            w["b1"] = self.add_weight(name=f"{block}_ffn_b1", shape=(f,), initializer="zeros")
            w["w2"] = self.add_weight(
                name=f"{block}_ffn_w2", shape=(f, d), initializer="glorot_uniform"
            )
            w["b2"] = self.add_weight(name=f"{block}_ffn_b2", shape=(d,), initializer="zeros")
            self.blocks.append(w)
        # LayerNorm positions l = 0..3 of eq 7: encoder attention, encoder FFN, decoder attention,
        # decoder FFN.
        self.ln_gamma = self.add_weight(name="ln_gamma", shape=(4, d), initializer="ones")
        self.ln_beta = self.add_weight(name="ln_beta", shape=(4, d), initializer="zeros")
        sizes = {"ln": (4, d), "qkv": (6, d * d), "ffn1": (2, d * f + f), "ffn2": (2, f * d + d)}
        self.hypernetworks = {}
        for site in self.injection:
            names = ("gamma", "beta") if site == "ln" else (site,)
            for name in names:
                hyper = HyperNetwork(
                    sizes[site][0], self.hyper_units, sizes[site][1], name=f"hyper_{name}"
                )
                hyper.build((None, 2 * c))
                self.hypernetworks[name] = hyper
        self.built = True

    # -- the hypernetwork's view ---------------------------------------------------------
    def conditions(self):
        """Every (task, behaviour) condition `T_t ⊕ BS_b`: `[T * M, 2 * type_dim]`, pair
        t * M + b."""
        t, m = self.num_tasks, self.num_behaviours
        tasks = ops.repeat(self.task_embedding, m, axis=0)
        behaviours = ops.tile(self.behaviour_embedding, (t, 1))
        return ops.concatenate([tasks, behaviours], axis=-1)

    def generated(self):
        """Generated parameters per site, each `[T, M, generators, size]` (γ already 1 + MLP)."""
        cond = self.conditions()
        out = {}
        for name, hyper in self.hypernetworks.items():
            g = hyper(cond)
            g = ops.reshape(
                g, (self.num_tasks, self.num_behaviours, hyper.num_generators, hyper.output_dim)
            )
            out[name] = 1.0 + g if name == "gamma" else g
        return out

    # -- forward -------------------------------------------------------------------------
    def call(self, target, sequences, masks):
        if len(sequences) != self.num_behaviours or len(masks) != self.num_behaviours:
            raise ValueError(
                f"TIM '{self.name}' needs {self.num_behaviours} sequences and masks. "
                f"Received {len(sequences)} sequences and {len(masks)} masks."
            )
        gen = self.generated()
        query = ops.reshape(ops.cast(target, self.compute_dtype), (-1, 1, 1, self.d))
        interests = []
        for b, (seq, mask) in enumerate(zip(sequences, masks)):
            p = {name: value[:, b] for name, value in gen.items()}  # [T, generators, size]
            x = ops.expand_dims(ops.cast(seq, self.compute_dtype), 1)  # [B, 1, L, d]
            mask = ops.cast(mask, self.compute_dtype)
            # DTRN eq 7, encoder: out0 = CLN(X + MHSA(X)), out_enc = CLN(out0 + FFN(out0)).
            h = self._norm(x + self._attend(x, x, mask, 0, p), 0, p)
            h = self._norm(h + self._ffn(h, 0, p), 1, p)
            # DTRN eq 7, decoder: target attention over the encoded sequence.
            o = self._norm(query + self._attend(query, h, mask, 1, p), 2, p)
            o = self._norm(o + self._ffn(o, 1, p), 3, p)  # [B, T or 1, 1, d]
            if o.shape[1] != self.num_tasks:
                o = ops.repeat(o, self.num_tasks, axis=1)
            interests.append(ops.squeeze(o, axis=2))
        return ops.concatenate(interests, axis=-1)  # DTRN eq 8: concat over behaviours, per task

    def _attend(self, q_in, kv_in, mask, block, p):
        """DTRN eq 3-4 on `[B, T|1, L, d]` inputs; masked keys get weight exactly 0."""
        w, h, d = self.blocks[block], self.num_heads, self.d
        dh = d // h
        mats = []
        for i, m in enumerate("qkv"):
            mat = w[f"w{m}"]  # [d, d], or [T, d, d] when injected
            if "qkv" in p:  # §5.2.2: W^Q_{t,b} = W^Q ⊙ (1 + W_{t,b})
                mat = mat[None] * (1.0 + ops.reshape(p["qkv"][:, 3 * block + i], (-1, d, d)))
            mats.append(mat)
        q, k, v = dense(q_in, mats[0]), dense(kv_in, mats[1]), dense(kv_in, mats[2])
        q, k, v = (self._heads(z, h, dh) for z in (q, k, v))  # [B, T|1, h, L, dh]
        scores = batch_matmul(q, ops.swapaxes(k, -1, -2)) / math.sqrt(dh)
        keep = ops.reshape(mask, (-1, 1, 1, 1, mask.shape[-1]))
        weights = ops.softmax(ops.where(keep > 0, scores, _NEG), axis=-1) * keep
        heads = batch_matmul(weights, v)  # [B, T|1, h, Lq, dh]
        heads = ops.transpose(heads, (0, 1, 3, 2, 4))
        heads = ops.reshape(heads, (-1, heads.shape[1], heads.shape[2], d))
        return dense(heads, w["wo"])  # eq 3: concat(head_1..h) W^O

    def _ffn(self, x, block, p):
        """DTRN eq 5: `ReLU(X W1 + b1) W2 + b2`, with §5.2.2's residual injection if asked."""
        w, d = self.blocks[block], self.d
        f = w["w1"].shape[-1]
        w1, b1 = w["w1"], ops.reshape(w["b1"], (1, 1, f))  # [d, f], or [T, d, f] when injected
        w2, b2 = w["w2"], ops.reshape(w["b2"], (1, 1, d))
        if "ffn1" in p:
            g = p["ffn1"][:, block]
            w1 = w1[None] * (1.0 + ops.reshape(g[:, : d * f], (-1, d, f)))
            b1 = b1 * (1.0 + ops.reshape(g[:, d * f :], (-1, 1, f)))
        if "ffn2" in p:
            g = p["ffn2"][:, block]
            w2 = w2[None] * (1.0 + ops.reshape(g[:, : f * d], (-1, f, d)))
            b2 = b2 * (1.0 + ops.reshape(g[:, f * d :], (-1, 1, d)))
        return dense(ops.relu(dense(x, w1) + b1), w2) + b2

    def _norm(self, x, pos, p):
        """DTRN eq 6: `γ_{t,b} · γ · (X - μ) / δ + β_{t,b} + β` (plain LayerNorm when not
        injected)."""
        mean = ops.mean(x, axis=-1, keepdims=True)
        var = ops.mean(ops.square(x - mean), axis=-1, keepdims=True)
        x = (x - mean) / ops.sqrt(var + self.epsilon)
        gamma, beta = self.ln_gamma[pos], self.ln_beta[pos]
        if "gamma" in p:
            gamma = ops.reshape(p["gamma"][:, pos] * gamma, (1, self.num_tasks, 1, self.d))
            beta = ops.reshape(p["beta"][:, pos] + beta, (1, self.num_tasks, 1, self.d))
        return x * gamma + beta

    @staticmethod
    def _heads(z, h, dh):
        z = ops.reshape(z, (-1, z.shape[1], z.shape[2], h, dh))
        return ops.transpose(z, (0, 1, 3, 2, 4))

    def compute_output_shape(self, target_shape, sequences_shape=None, masks_shape=None):
        return (target_shape[0], self.num_tasks, self.num_behaviours * int(target_shape[-1]))

    def get_config(self):
        return {
            **super().get_config(),
            "num_tasks": self.num_tasks,
            "num_behaviours": self.num_behaviours,
            "num_heads": self.num_heads,
            "ffn_units": self.ffn_units,
            "hyper_units": self.hyper_units,
            "type_dim": self.type_dim,
            "injection": self.injection,
            **({} if self.epsilon == EPSILON else {"epsilon": self.epsilon}),
        }
