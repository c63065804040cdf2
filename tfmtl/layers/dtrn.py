"""DTRNBottom: raw features in, task-specific bottom representations out (DTRN CIKM'23 §3)."""

from __future__ import annotations

import keras
from keras import ops

from tfmtl.features import FeatureSpec
from tfmtl.layers.embedding import FeatureEmbedding
from tfmtl.layers.tim import TIM
from tfmtl.layers.trm import TRM


@keras.saving.register_keras_serializable(package="tfmtl")
class DTRNBottom(keras.layers.Layer):
    """The embedding layer, TIM and TRM of DTRN: the bottom that feeds any switcher.

    - Embedding layer (DTRN §3.2): the spec's dense and categorical features `e^s` through
      `FeatureEmbedding`; the behaviour sequences and the target item through the target
      item's table (`SequenceFeature.share_with`).
    - TIM (§3.3): `interest_i`, the task-specific interests (eq 8). With `tim=False` the
      same conditional transformer runs with ONE task-type embedding, so every task gets
      the same task-shared interest (the DMT-style baseline of DTRN Table 5).
    - TRM (§3.4): `raw_i = [e^s_1, ..., e^s_N, interest_i]`, `r_i = raw_i ⊙ MLP_i(raw_i)`
      (eq 9). With `trm=False`, `r_i = raw_i`.

    Returns a list of T tensors `[B, D]` (the views of the Switcher contract, eq 10), or,
    with `tim=False, trm=False`, the one task-shared tensor `[B, D]` (the plain backbone).

    Args:
        features: `FeatureSpec` or its config (adapted).
        num_tasks: int. T.
        sequences: list of str. Sequence features, one behaviour type each (M of them).
        target: str or None. The target item's categorical feature (the decoder's query).
            Required when `sequences` is non-empty.
        tim: bool. Task-specific interests (True) or one task-shared interest (False).
        trm: bool. Apply the per-task refinement networks.
        lookup: bool. Raw values (True) or pre-encoded ids (False); see `FeatureEmbedding`.
        num_heads, ffn_units, hyper_units, type_dim, injection: passed to `TIM`.
        trm_units: int. Hidden width of every TRM refinement network. Defaults to 64.

    Example:

    >>> bottom = tfmtl.layers.DTRNBottom(spec, num_tasks=2, sequences=["liked"], target="item_id")
    >>> views = bottom(spec.inputs())          # list of 2 task-specific [B, D] bottoms
    """

    def __init__(
        self,
        features,
        num_tasks: int,
        sequences=(),
        target: str | None = None,
        tim: bool = True,
        trm: bool = True,
        lookup: bool = True,
        num_heads: int = 2,
        ffn_units: int | None = None,
        hyper_units: int = 32,
        type_dim: int | None = None,
        injection="ln",
        trm_units: int = 64,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.spec = (
            features if isinstance(features, FeatureSpec) else FeatureSpec.from_config(features)
        )
        self.num_tasks, self.sequences, self.target = int(num_tasks), list(sequences), target
        self.use_tim, self.use_trm, self.lookup = bool(tim), bool(trm), bool(lookup)
        self.num_heads, self.ffn_units, self.hyper_units = (
            int(num_heads),
            ffn_units,
            int(hyper_units),
        )
        self.type_dim, self.trm_units = type_dim, int(trm_units)
        self.injection = [injection] if isinstance(injection, str) else list(injection)
        self._check()
        self.features = FeatureEmbedding(self.spec, lookup=self.lookup, name="features")
        self.tim = None
        if self.sequences:
            self.tim = TIM(
                self.num_tasks if self.use_tim else 1,
                len(self.sequences),
                num_heads=self.num_heads,
                ffn_units=ffn_units,
                hyper_units=self.hyper_units,
                type_dim=type_dim,
                injection=self.injection,
                name="tim" if self.use_tim else "shared_interest",
            )
        self.trm = TRM(self.num_tasks, self.trm_units, name="trm") if self.use_trm else None

    def _check(self):
        if self.num_tasks < 1:
            raise ValueError(
                f"DTRNBottom needs num_tasks >= 1. Received: num_tasks={self.num_tasks}"
            )
        if self.use_tim and not self.sequences:
            raise ValueError(
                "DTRN's TIM reads behaviour sequences: pass `sequences` or set `tim=False`."
            )
        if not self.sequences:
            return
        if self.target is None:
            raise ValueError(
                f"DTRNBottom needs `target` (the target item feature) to attend over {self.sequences}."
            )
        target = self.spec[self.target]
        if target.kind != "categorical":
            raise ValueError(
                f"DTRN target '{self.target}' must be a categorical feature; it is {target.kind}."
            )
        for name in self.sequences:
            f = self.spec[name]
            if f.kind != "sequence":
                raise ValueError(
                    f"DTRN behaviour '{name}' must be a SequenceFeature; it is {f.kind}."
                )
            dim = target.embedding_dim if f.share_with else f.embedding_dim
            if f.share_with not in (None, self.target) or dim != target.embedding_dim:
                raise ValueError(
                    f"DTRN behaviour '{name}' (share_with={f.share_with!r}, embedding_dim={dim}) must share "
                    f"the embedding of target '{self.target}' or match its embedding_dim={target.embedding_dim}."
                )

    @property
    def output_dim(self) -> int:
        d = self.spec[self.target].embedding_dim if self.sequences else 0
        return self.features.output_dim + d * len(self.sequences)

    def build(self, input_shape=None):
        self.features.build(input_shape)
        if self.tim is not None:
            d = self.spec[self.target].embedding_dim
            self.tim.build(
                (None, d),
                [(None, self.spec[n].max_len, d) for n in self.sequences],
                [(None, self.spec[n].max_len) for n in self.sequences],
            )
        if self.trm is not None:
            self.trm.build((None, self.output_dim))
        self.built = True

    def interests(self, inputs):
        """TIM's `[B, T, M * d]` task-specific (or `[B, 1, M * d]` task-shared) interests."""
        target = self.features.tables[self.target](
            self.features.ids(self.target, inputs[self.target])
        )
        embedded = [self.features.embed_sequence(n, inputs[n]) for n in self.sequences]
        return self.tim(target, [e for e, _ in embedded], [m for _, m in embedded])

    def call(self, inputs):
        sparse = self.features(inputs)
        if self.tim is None:
            raw = sparse
        else:
            interests = self.interests(inputs)
            # DTRN §3.4: raw_i = [e^s_1, ..., e^s_N, interest_i]
            raw = [
                ops.concatenate([sparse, interests[:, i]], axis=-1)
                for i in range(interests.shape[1])
            ]
            raw = raw if self.use_tim else raw[0]
        if self.trm is not None:
            return self.trm(raw)
        return raw

    def compute_output_shape(self, input_shape):
        shape = (None, self.output_dim)
        return [shape] * self.num_tasks if (self.use_tim or self.use_trm) else shape

    def get_config(self):
        return {
            **super().get_config(),
            "features": self.spec.to_config(),
            "num_tasks": self.num_tasks,
            "sequences": self.sequences,
            "target": self.target,
            "tim": self.use_tim,
            "trm": self.use_trm,
            "lookup": self.lookup,
            "num_heads": self.num_heads,
            "ffn_units": self.ffn_units,
            "hyper_units": self.hyper_units,
            "type_dim": self.type_dim,
            "injection": self.injection,
            "trm_units": self.trm_units,
        }
