"""FeatureSpec: the raw features a model reads, and what it learnt about them from training data.

Three kinds of feature:

- `DenseFeature`: a float, normalised inside the model with the training mean and std
  (optionally after `log1p`, for heavy-tailed counts and amounts);
- `CategoricalFeature`: a string or integer looked up in a vocabulary learnt from training
  data (one out-of-vocabulary bucket), or hashed into `num_hash_bins`; then embedded;
- `SequenceFeature`: a fixed-length list of ids (a user's behaviour sequence), padded with
  `padding`; embedded by the models that read sequences.

Because the vocabularies and statistics live in the spec and the spec lives in the model's
config, a model takes raw values and training and serving cannot skew.

Example:

>>> spec = FeatureSpec([DenseFeature("age"), CategoricalFeature("city", embedding_dim=4)])
>>> spec = spec.adapt({"age": np.array([20.0, 40.0]), "city": np.array(["a", "b"])})
>>> spec["age"].mean, spec["city"].vocabulary
(30.0, ('a', 'b'))
"""

from __future__ import annotations

import collections
import dataclasses
from typing import ClassVar

import numpy as np

_DTYPES = ("string", "int64")


@dataclasses.dataclass(frozen=True)
class DenseFeature:
    """A real-valued feature. `missing`: "error" (NaN/inf is an error) or "mean" (NaN -> mean).

    With `num_buckets > 0` the model also encodes the value by its training quantiles in
    `embedding_dim` dimensions, so a network can cut a feature at thresholds as trees do:

    - `encoding="bucket"`: the embedding of the quantile bucket the value falls in;
      `boundaries` (learnt by `adapt`) are the cut points.
    - `encoding="piecewise_linear"`: the piecewise-linear encoding of Gorishniy et al.
      (NeurIPS'22, eq 1), component t = clip((x - b_{t-1}) / (b_t - b_{t-1}), 0, 1) (the first
      bin unclipped below, the last above), times a learnt `[bins, embedding_dim]` matrix: a
      continuous interpolation where a bucket embedding jumps. `boundaries` are every bin
      edge, the training minimum and maximum included.

    Either way a value holding more than one quantile's mass (the zeros of a mostly-zero
    amount) is an edge of its own and the other values' quantiles place the rest, so the
    nonzero amounts keep their bins.
    """

    name: str
    transform: str = "none"
    missing: str = "error"
    mean: float = 0.0
    std: float = 1.0
    num_buckets: int = 0
    embedding_dim: int = 4
    boundaries: tuple | None = None
    encoding: str = "bucket"
    kind: ClassVar[str] = "dense"

    def __post_init__(self):
        _check_choice(self, "transform", ("none", "log1p"))
        _check_choice(self, "missing", ("error", "mean"))
        _check_choice(self, "encoding", ("bucket", "piecewise_linear"))
        if self.boundaries is not None:
            object.__setattr__(self, "boundaries", tuple(float(b) for b in self.boundaries))

    @property
    def dtype(self) -> str:
        return "float32"

    def transformed(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        return np.log1p(np.maximum(values, 0.0)) if self.transform == "log1p" else values


@dataclasses.dataclass(frozen=True)
class CategoricalFeature:
    """A categorical feature: vocabulary lookup (learnt by `adapt`) or hashing, and an embedding."""

    name: str
    embedding_dim: int = 8
    dtype: str = "string"
    vocabulary: tuple | None = None
    num_hash_bins: int | None = None
    min_count: int = 1
    kind: ClassVar[str] = "categorical"

    def __post_init__(self):
        _check_choice(self, "dtype", _DTYPES)
        if self.vocabulary is not None:
            object.__setattr__(self, "vocabulary", tuple(self.vocabulary))
        if int(self.embedding_dim) < 1:
            raise ValueError(
                f"Feature '{self.name}': embedding_dim must be >= 1. Received: {self.embedding_dim}"
            )

    @property
    def num_ids(self) -> int:
        """Rows of the embedding table: the vocabulary plus one OOV bucket, or the hash bins."""
        if self.num_hash_bins:
            return int(self.num_hash_bins)
        if self.vocabulary is None:
            raise ValueError(
                f"Feature '{self.name}' has no vocabulary yet: call FeatureSpec.adapt first."
            )
        return len(self.vocabulary) + 1


@dataclasses.dataclass(frozen=True)
class SequenceFeature:
    """A padded sequence of ids `[B, max_len]` (e.g. items a user clicked, oldest first).

    `share_with` names a categorical feature whose vocabulary and embedding the sequence
    reuses (the target item); otherwise the sequence learns its own vocabulary.
    """

    name: str
    max_len: int
    embedding_dim: int = 8
    dtype: str = "int64"
    vocabulary: tuple | None = None
    share_with: str | None = None
    padding: int | str = 0
    kind: ClassVar[str] = "sequence"

    def __post_init__(self):
        _check_choice(self, "dtype", _DTYPES)
        if self.vocabulary is not None:
            object.__setattr__(self, "vocabulary", tuple(self.vocabulary))
        if int(self.max_len) < 1:
            raise ValueError(
                f"Feature '{self.name}': max_len must be >= 1. Received: {self.max_len}"
            )


_KINDS = {cls.kind: cls for cls in (DenseFeature, CategoricalFeature, SequenceFeature)}
Feature = DenseFeature | CategoricalFeature | SequenceFeature


class FeatureSpec:
    """An ordered set of uniquely named features.

    Args:
        features: list of `DenseFeature`, `CategoricalFeature`, `SequenceFeature`.
    """

    def __init__(self, features: list[Feature]):
        self.features = list(features)
        seen = collections.Counter(f.name for f in self.features)
        dupes = sorted(n for n, c in seen.items() if c > 1)
        if dupes:
            raise ValueError(
                f"Duplicate feature name(s) {dupes}: every feature needs a unique name."
            )
        for f in self.features:
            if getattr(f, "share_with", None) and f.share_with not in seen:
                raise ValueError(
                    f"Sequence feature '{f.name}' shares with unknown feature '{f.share_with}'."
                )
        self._by_name = {f.name: f for f in self.features}

    def __iter__(self):
        return iter(self.features)

    def __len__(self):
        return len(self.features)

    def __getitem__(self, name: str) -> Feature:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"No feature named '{name}'. Known: {sorted(self._by_name)}") from None

    def __contains__(self, name) -> bool:
        return name in self._by_name

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def of_kind(self, kind: str) -> list[Feature]:
        return [f for f in self.features if f.kind == kind]

    # -- learning from training data ---------------------------------------------------
    def adapt(
        self, columns: dict, source: str = "training data", row_numbers=None, unit: str = "row"
    ) -> "FeatureSpec":
        """Learn vocabularies and normalisation from training `columns` (name -> array).

        Returns a new spec; raises a ValueError naming the feature and row of any
        missing column or non-finite dense value (`source` names the file in the message).
        """
        self.check(columns, source, row_numbers, unit)
        adapted = []
        for f in self.features:
            if f.kind == "dense":
                values = f.transformed(columns[f.name])
                finite = values[np.isfinite(values)]
                mean = float(finite.mean()) if finite.size else 0.0
                std = float(finite.std()) if finite.size else 1.0
                boundaries = (
                    _quantile_boundaries(finite, f.num_buckets, f.encoding)
                    if f.num_buckets
                    else None
                )
                adapted.append(
                    dataclasses.replace(
                        f, mean=mean, std=std if std > 1e-12 else 1.0, boundaries=boundaries
                    )
                )
            elif f.kind == "categorical" and f.num_hash_bins is None and f.vocabulary is None:
                adapted.append(
                    dataclasses.replace(f, vocabulary=_vocabulary(columns[f.name], f.min_count))
                )
            elif f.kind == "sequence" and f.share_with is None and f.vocabulary is None:
                values = np.asarray(columns[f.name]).reshape(-1)
                values = values[values != np.asarray(f.padding, dtype=values.dtype)]
                adapted.append(dataclasses.replace(f, vocabulary=_vocabulary(values, 1)))
            else:
                adapted.append(f)
        return FeatureSpec(adapted)

    def check(
        self, columns: dict, source: str = "input", row_numbers=None, unit: str = "row"
    ) -> None:
        """Raise a ValueError naming the culprit if `columns` cannot feed this spec.

        `row_numbers` (and `unit`, "row" or "line") say where a bad value is in `source`."""
        missing = [n for n in self.names if n not in columns]
        if missing:
            raise ValueError(
                f"Feature(s) {missing} missing from {source}. Present: {sorted(columns)}"
            )
        for f in self.of_kind("dense"):
            if f.missing == "mean":
                continue
            values = np.asarray(columns[f.name], dtype=np.float64)
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                row = int(row_numbers[bad[0]]) if row_numbers is not None else int(bad[0])
                raise ValueError(
                    f"Feature '{f.name}' in {unit} {row:,} of {source} is {values[bad[0]]}. Dense "
                    "features "
                    f"must be finite; fill or drop missing values, or declare '{f.name}' with "
                    '`missing="mean"`.'
                )

    # -- model inputs --------------------------------------------------------------------
    def input_dtype(self, name: str, lookup: bool = True) -> str:
        f = self[name]
        if f.kind == "dense":
            return "float32"
        return f.dtype if lookup else "int32"

    def input_shape(self, name: str) -> tuple:
        f = self[name]
        return (f.max_len,) if f.kind == "sequence" else ()

    def inputs(self, lookup: bool = True) -> dict:
        """One `keras.Input` per feature: raw values (`lookup=True`) or pre-encoded ids."""
        import keras

        return {
            n: keras.Input(shape=self.input_shape(n), dtype=self.input_dtype(n, lookup), name=n)
            for n in self.names
        }

    def encode(self, columns: dict) -> dict:
        """Map raw categorical/sequence values to ids in numpy, as the in-model lookup does.

        For backends without string tensors (jax, torch): id 0 is OOV, vocabulary entry i
        is id i + 1; hashed features are not supported here.
        """
        out = {}
        for f in self.features:
            values = np.asarray(columns[f.name])
            if f.kind == "dense":
                out[f.name] = values.astype(np.float32)
                continue
            vocab = (
                self[f.share_with].vocabulary if getattr(f, "share_with", None) else f.vocabulary
            )
            if vocab is None:
                raise ValueError(
                    f"Feature '{f.name}' is hashed or not adapted; encode needs a vocabulary."
                )
            import pyarrow as pa
            import pyarrow.compute as pc

            column = _arrow(values)
            index = pc.index_in(column, value_set=pa.array(list(vocab), type=column.type))
            ids = pc.fill_null(pc.add(index, 1), 0).to_numpy(zero_copy_only=False)
            out[f.name] = ids.astype(np.int32).reshape(values.shape)
        return out

    # -- config --------------------------------------------------------------------------
    def to_config(self) -> list[dict]:
        return [{"kind": f.kind, **_plain_dict(dataclasses.asdict(f))} for f in self.features]

    @classmethod
    def from_config(cls, config: list[dict]) -> "FeatureSpec":
        features = []
        for item in config:
            item = dict(item)
            kind = item.pop("kind", None)
            if kind not in _KINDS:
                raise ValueError(
                    f"Unknown feature kind {kind!r} in {item}. Known: {sorted(_KINDS)}"
                )
            features.append(_KINDS[kind](**item))
        return cls(features)

    def __eq__(self, other):
        return isinstance(other, FeatureSpec) and self.to_config() == other.to_config()

    def __repr__(self):
        return f"FeatureSpec({self.names})"


def _check_choice(feature, field: str, choices) -> None:
    value = getattr(feature, field)
    if value not in choices:
        raise ValueError(
            f"Feature '{feature.name}': {field} must be one of {choices}. Received: {value!r}"
        )


def _plain(v):
    """numpy scalars and bytes -> Python values, so vocabularies are JSON-able."""
    if isinstance(v, bytes):
        return v.decode("utf-8")
    return v.item() if isinstance(v, np.generic) else v


def _plain_dict(d: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def _quantile_boundaries(values: np.ndarray, num_buckets: int, encoding: str = "bucket") -> tuple:
    """Spike-aware training quantiles: bin edges ("piecewise_linear") or bucket cut points
    ("bucket").

    A value holding more than one quantile's mass (a spike, like the zeros of a mostly-zero
    amount) is an edge of its own, and the `num_buckets + 1` quantiles of the other values
    place the rest, so a spike cannot swallow the bins. Edges run from the minimum to the
    maximum; a bucket's cut points are the edges above the minimum (the maximum only when
    it is a spike), so every spike gets its own bucket.
    """
    if not values.size:
        return ()
    spikes, counts = np.unique(values, return_counts=True)
    spikes = spikes[counts > values.size / num_buckets]
    rest = values[~np.isin(values, spikes)]
    quantiles = np.quantile(rest, np.linspace(0.0, 1.0, num_buckets + 1)) if rest.size else []
    edges = np.unique(np.concatenate([quantiles, spikes, [values.min(), values.max()]]))
    if encoding == "bucket":
        edges = [e for e in edges[1:] if e < values.max() or e in spikes]
    return tuple(float(e) for e in edges)


def _vocabulary(values, min_count: int) -> tuple:
    """Values by descending frequency (ties by value), those seen at least `min_count` times."""
    import pyarrow.compute as pc

    counts = pc.value_counts(_arrow(values))
    uniq = counts.field("values").to_numpy(zero_copy_only=False)
    n = counts.field("counts").to_numpy()
    keep = n >= min_count
    uniq = np.asarray([_plain(v) for v in uniq[keep].tolist()], dtype=object)
    order = np.lexsort((uniq.astype(str), -n[keep]))
    return tuple(uniq[order].tolist())


def _arrow(values):
    """`values` flattened as a pyarrow array (hash-based counting and lookup, no Python per row)."""
    import pyarrow as pa

    values = np.asarray(values).reshape(-1)
    return pa.array(values.astype(str) if values.dtype.kind == "S" else values)
