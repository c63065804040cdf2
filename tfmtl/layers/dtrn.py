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

    Args:
        features: `FeatureSpec` or its config. Adapted.
        num_tasks: int. T.
        sequences: list of str. Sequence features, one behaviour type each (M of them).
            Defaults to every sequence feature of `features`.
        target: str. The target item's categorical feature (the decoder's query). Defaults
            to the one feature the sequences share their embedding with.
        tim: bool or dict. Task-specific interests (`True`) or one task-shared interest
            (`False`); a dict gives `TIM`'s arguments (`num_heads`, `ffn_units`,
            `hyper_units`, `type_dim`, `injection`) and `task_specific` (default `True`).
            Defaults to `True`.
        trm_units: int. Hidden width of every TRM refinement network; `0` leaves TRM out
            (`r_i = raw_i`). Defaults to `64`.
        lookup: bool. Raw values (True) or pre-encoded ids (False); see `FeatureEmbedding`.
            Defaults to `True`.

    Call arguments:
        inputs: dict. Feature name -> raw values `[B]` (a sequence: `[B, max_len]`).

    Returns:
        A list of T tensors `[B, D]` (the views of the Switcher contract, eq 10), or, with
        a task-shared interest and no TRM, the one task-shared tensor `[B, D]` (the plain
        backbone).

    Example:

    >>> F = tfmtl.features
    >>> spec = tfmtl.FeatureSpec([
    ...     F.CategoricalFeature("item_id", embedding_dim=4, dtype="int64"),
    ...     F.SequenceFeature("liked", max_len=3, share_with="item_id", dtype="int64")])
    >>> spec = spec.adapt({"item_id": np.arange(1, 7), "liked": np.arange(18).reshape(6, 3)})
    >>> views = tfmtl.layers.DTRNBottom(spec, num_tasks=2)(spec.inputs())
    >>> [tuple(v.shape) for v in views]
    [(None, 8), (None, 8)]
    """

    def __init__(
        self,
        features,
        num_tasks: int,
        sequences=None,
        target: str | None = None,
        tim: bool | dict = True,
        trm_units: int = 64,
        lookup: bool = True,
        **kwargs,
    ):
        tim, trm_units = _legacy(tim, trm_units, kwargs)
        super().__init__(**kwargs)
        self.spec = (
            features if isinstance(features, FeatureSpec) else FeatureSpec.from_config(features)
        )
        self.num_tasks, self.lookup = int(num_tasks), bool(lookup)
        self.sequences = (
            [f.name for f in self.spec.of_kind("sequence")]
            if sequences is None
            else list(sequences)
        )
        self.target = _target(self.spec, self.sequences) if target is None else target
        self.tim_options = _tim_options(tim)
        self.use_tim = self.tim_options.pop("task_specific")
        self.trm_units = int(trm_units)
        self.use_trm = self.trm_units > 0
        self.injection = self.tim_options["injection"]
        self._check()
        self.features = FeatureEmbedding(self.spec, lookup=self.lookup, name="features")
        self.tim = None
        if self.sequences:
            self.tim = TIM(
                self.num_tasks if self.use_tim else 1,
                len(self.sequences),
                **self.tim_options,
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
                "DTRNBottom needs `target` (the target item feature) to attend over "
                f"{self.sequences}."
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
                    f"DTRN behaviour '{name}' (share_with={f.share_with!r}, embedding_dim={dim}) "
                    "must share "
                    f"the embedding of target '{self.target}' or match its "
                    f"embedding_dim={target.embedding_dim}."
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
            "tim": {**self.tim_options, "task_specific": self.use_tim},
            "trm_units": self.trm_units,
            "lookup": self.lookup,
        }


TIM_OPTIONS = {
    "num_heads": 2,
    "ffn_units": None,
    "hyper_units": 32,
    "type_dim": None,
    "injection": "ln",
}


def _tim_options(tim) -> dict:
    """`tim` (bool or dict) as TIM's arguments plus `task_specific`."""
    given = dict(tim) if isinstance(tim, dict) else {"task_specific": bool(tim)}
    unknown = sorted(set(given) - set(TIM_OPTIONS) - {"task_specific"})
    if unknown:
        raise ValueError(
            f"DTRNBottom: unknown tim option(s) {unknown}; it takes: task_specific, "
            f"{', '.join(TIM_OPTIONS)}."
        )
    options = {**TIM_OPTIONS, "task_specific": True, **given}
    injection = options["injection"]
    options["injection"] = [injection] if isinstance(injection, str) else list(injection)
    options["task_specific"] = bool(options["task_specific"])
    return options


def _legacy(tim, trm_units, kwargs):
    """Configs saved with TIM's arguments and `trm` beside `tim` still load."""
    moved = {k: kwargs.pop(k) for k in list(kwargs) if k in TIM_OPTIONS}
    if moved:
        tim = {**moved, "task_specific": bool(tim)}
    if not kwargs.pop("trm", True):
        trm_units = 0
    return tim, trm_units


def _target(spec, sequences) -> str | None:
    """The feature every sequence shares its embedding with (DTRN's target item)."""
    shared = sorted({spec[n].share_with for n in sequences if spec[n].share_with})
    if len(shared) > 1:
        raise ValueError(
            f"Sequences {sequences} share with several features {shared}: pass `target=`."
        )
    return shared[0] if shared else None
