"""Behaviour sequences from an event log, without leakage, and MovieLens with them (DTRN's input).

`behaviour_sequences` gives every event (row) the items its user interacted with under each
behaviour STRICTLY BEFORE the event's timestamp: events at the same timestamp (the row itself
included) are excluded, so no row sees its own label or anything logged with or after it.
Each sequence keeps the `max_len` most recent items, oldest first, right-padded with
`padding`.

`load_movielens_sequences` is `tfmtl.data.load_movielens` plus behaviour sequences (default
`liked_items`: rating >= 4, `disliked_items`: rating <= 2), declared as `SequenceFeature`s
that share `item_id`'s vocabulary and embedding. Sequences are built from the whole file in
time order before the random 8:1:1 split: a history is what the service knew at that moment,
whichever split its own row landed in.

Example:

>>> users, items = np.array([1, 1, 1, 1, 2]), np.array([10, 11, 12, 13, 10])
>>> timestamps, ratings = np.array([1, 2, 3, 4, 1]), np.array([5, 1, 4, 3, 5])
>>> seqs = behaviour_sequences(users, items, timestamps, {"liked": ratings >= 4}, max_len=2)
>>> seqs["liked"].tolist()
[[0, 0], [10, 0], [10, 0], [10, 12], [0, 0]]
"""

from __future__ import annotations

import numpy as np

from tfmtl.data.dataset import MultiTaskData, build_splits, split_indices
from tfmtl.features import FeatureSpec, SequenceFeature

BEHAVIOURS = {
    "liked": lambda rating: rating >= 4,
    "disliked": lambda rating: rating <= 2,
    "neutral": lambda rating: rating == 3,
    "rated": lambda rating: np.ones(len(rating), bool),
}


def behaviour_sequences(
    users, items, timestamps, behaviours: dict, max_len: int, padding: int = 0
) -> dict:
    """Per row and behaviour, the user's earlier items: `{name: int64 [N, max_len]}`.

    Args:
        users, items, timestamps: `[N]` arrays, one event per row (any order).
        behaviours: dict name -> `[N]` bool array: which events belong to the behaviour.
        max_len: int. Most recent items kept per sequence.
        padding: int. Fill value after the last item; must not be an item id.

    Row j's sequence holds `items[e]` for the events e with `users[e] == users[j]`,
    `behaviours[name][e]` and `timestamps[e] < timestamps[j]` (strictly), oldest first.
    """
    users, items, ts = (np.asarray(a) for a in (users, items, timestamps))
    n = len(users)
    if len(items) != n or len(ts) != n:
        raise ValueError(
            f"users, items, timestamps differ in length: {n}, {len(items)}, {len(ts)}."
        )
    if int(max_len) < 1:
        raise ValueError(f"max_len must be >= 1. Received: max_len={max_len}")
    if np.any(items == padding):
        row = int(np.flatnonzero(items == padding)[0])
        raise ValueError(
            f"Row {row:,} has item id {padding}, the padding value: choose another `padding`."
        )
    _, user_code = np.unique(users, return_inverse=True)
    ts_code = np.unique(ts, return_inverse=True)[1].astype(np.int64)
    key = (
        user_code.astype(np.int64) * (int(ts_code.max(initial=0)) + 2) + ts_code
    )  # (user, time) order
    user_start = user_code.astype(np.int64) * (int(ts_code.max(initial=0)) + 2)
    positions = np.arange(int(max_len))
    out = {}
    for name, flags in behaviours.items():
        flags = np.asarray(flags, bool)
        if len(flags) != n:
            raise ValueError(f"Behaviour '{name}' has {len(flags)} flags for {n} events.")
        chosen = np.flatnonzero(flags)
        order = chosen[np.argsort(key[chosen], kind="stable")]
        keys, chosen_items = key[order], items[order]
        end = np.searchsorted(keys, key, side="left")  # first same-user event at or after t_j
        start = np.maximum(np.searchsorted(keys, user_start, side="left"), end - int(max_len))
        count = end - start
        index = start[:, None] + positions[None, :]
        valid = positions[None, :] < count[:, None]
        gathered = (
            chosen_items[np.clip(index, 0, max(len(chosen_items) - 1, 0))]
            if len(chosen_items)
            else index
        )
        out[name] = np.where(valid, gathered, padding).astype(np.int64)
    return out


def movielens_sequence_spec(
    embedding_dim: int = 8, max_len: int = 20, behaviours=("liked", "disliked")
) -> FeatureSpec:
    """`movielens_spec` plus one `<behaviour>_items` SequenceFeature per behaviour (sharing
    item_id).
    """
    from tfmtl.data.movielens import movielens_spec

    base = movielens_spec(embedding_dim)
    seqs = [
        SequenceFeature(
            f"{b}_items",
            max_len=int(max_len),
            embedding_dim=embedding_dim,
            dtype="int64",
            share_with="item_id",
            padding=0,
        )
        for b in behaviours
    ]
    return FeatureSpec(list(base) + seqs)


def load_movielens_sequences(
    data_dir_=None,
    variant: str = "100k",
    seed: int = 0,
    tasks=("ctr", "rating"),
    embedding_dim: int = 8,
    max_len: int = 20,
    behaviours=("liked", "disliked"),
    zip_digits: int = 1,
) -> MultiTaskData:
    """MovieLens with behaviour sequences, for DTRN (dataset "movielens_seq").

    Everything `load_movielens` does (features, tasks ctr and rating, random 8:1:1 split by
    `numpy.random.default_rng(seed)`, `Split.extras`), plus a `<behaviour>_items` sequence
    feature per behaviour from `BEHAVIOURS` ("liked": rating >= 4, "disliked": rating <= 2,
    "neutral": rating 3, "rated": all), built by `behaviour_sequences` (strictly earlier
    events of the same user, ties excluded, `max_len` most recent, padding 0; MovieLens item
    ids start at 1).
    """
    from tfmtl.data.movielens import EXTRAS, FRACTIONS, TASKS, read_movielens
    from tfmtl.tasks import Task

    unknown = [b for b in behaviours if b not in BEHAVIOURS]
    if unknown or not behaviours:
        raise ValueError(
            f"Unknown behaviour(s) {unknown or list(behaviours)}. Choose from {sorted(BEHAVIOURS)}."
        )
    task_objs = []
    for t in tasks:
        if not isinstance(t, Task) and t not in TASKS:
            raise ValueError(
                f"Unknown MovieLens task {t!r}. Choose from {sorted(TASKS)} or pass a tfmtl.Task."
            )
        task_objs.append(t if isinstance(t, Task) else TASKS[t])
    columns, source = read_movielens(data_dir_, variant, zip_digits)
    rating = np.asarray(columns["rating"])
    flags = {b: BEHAVIOURS[b](rating) for b in behaviours}
    seqs = behaviour_sequences(
        columns["user_id"], columns["item_id"], columns["timestamp"], flags, max_len
    )
    for b, values in seqs.items():
        columns[f"{b}_items"] = values
    indices = split_indices(len(rating), seed, FRACTIONS)
    spec = movielens_sequence_spec(embedding_dim, max_len, behaviours)
    data = build_splits(columns, spec, task_objs, indices, source)
    for name, idx in indices.items():
        data.splits[name].extras = {k: np.asarray(columns[k])[idx] for k in EXTRAS}
    lengths = ", ".join(f"{b} {float((seqs[b] != 0).sum(1).mean()):.1f}" for b in behaviours)
    data.description = (
        f"{source}: random 8:1:1 split by numpy.random.default_rng({seed}); tasks ctr (rating >= "
        "4) and "
        f"rating (MSE); behaviour sequences (max_len {max_len}, strictly earlier events of the "
        "user, mean "
        f"length {lengths})"
    )
    return data
