"""MovieLens-100K and MovieLens-1M with two tasks: `ctr` (rating >= 4) and `rating`.

`variant="100k"` (dataset `movielens100k`) reads `<data_dir>/movielens-100k/` (`u.data`,
`u.user`, `u.item`; latin-1). `variant="1m"` (dataset `movielens1m`) reads
`<data_dir>/movielens-1m/` (`users.dat`, `movies.dat`, `::`-separated) and GroupLens'
`ratings.dat` when present, else `ratings-reconstructed.dat.gz` (the rebuild of 1,000,120 of
its 1,000,209 ratings; see that folder's PROVENANCE.md); the description names the file read.

Protocol (the DML paper's ML-1M protocol, applied to either file):

- one row per rating; tasks `ctr` (binary: rating >= 4, AUC) and `rating` (regression on
  the 1-5 stars, MSE);
- rows permuted by `numpy.random.default_rng(seed)` and cut 8:1:1 into
  train / validation / test (`split_indices(n, seed, (0.8, 0.1, 0.1))`);
- vocabularies and normalisation learnt from the train split only.

Features (`movielens_spec`): `user_id`, `item_id` (int64 categorical), `age` (dense;
ML-1M's age is already a bucket code, still read as a number), `gender`, `occupation`,
`zip_prefix` (first `zip_digits` characters of the zip code), 19 dense 0/1 genre flags
`genre_<name>` (`GENRES`), `release_year` (dense, NaN -> train mean; ML-100K's release date,
ML-1M's "(year)" in the title), `hour` and `weekday` (categorical, from the UTC timestamp;
weekday 0 = Monday).

Extra raw columns, never model inputs, are kept per split in `Split.extras`: `user_id`,
`item_id`, `timestamp`, `rating` and `activity_group`: "new" / "low" / "high" for a user with
<= 36 / 37-99 / >= 100 ratings in the whole file (the MFH paper's thresholds 20-36, 37-99,
>= 100; every MovieLens user has >= 20). ML-100K: 273 / 306 / 364 users.

Example:

>>> data = load_movielens()
>>> [t.name for t in data.tasks], len(data["train"]), sorted(data["test"].extras)
(['ctr', 'rating'], 80000, ['activity_group', 'item_id', 'rating', 'timestamp', 'user_id'])
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tfmtl.data.dataset import MultiTaskData, build_splits, split_indices
from tfmtl.data.paths import MissingDataError, data_dir, require_file
from tfmtl.data.text_table import read_table
from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec
from tfmtl.tasks import Task

GENRES = (
    "unknown",
    "action",
    "adventure",
    "animation",
    "childrens",
    "comedy",
    "crime",
    "documentary",
    "drama",
    "fantasy",
    "film_noir",
    "horror",
    "musical",
    "mystery",
    "romance",
    "sci_fi",
    "thriller",
    "war",
    "western",
)
FOLDERS = {"100k": "movielens-100k", "1m": "movielens-1m"}
GROUPS = ("new", "low", "high")
GROUP_THRESHOLDS = (37, 100)  # ratings per user: < 37 new, 37-99 low, >= 100 high
EXTRAS = ("user_id", "item_id", "timestamp", "rating", "activity_group")
TASKS = {
    "ctr": Task("ctr", kind="binary", label="label_ctr"),
    "rating": Task("rating", kind="regression", label="label_rating"),
}
FRACTIONS = (0.8, 0.1, 0.1)
RATING_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
RATINGS_1M = (
    "ratings.dat",
    "ratings-reconstructed.dat.gz",
)  # GroupLens' file first, else the rebuild


def movielens_variant(variant: str) -> str:
    """`variant` checked: "100k" or "1m" (never guessed from what is on disk)."""
    if variant not in FOLDERS:
        raise ValueError(f"Unknown MovieLens variant={variant!r}. Choose from {sorted(FOLDERS)}.")
    return variant


def ratings_file_1m(folder) -> Path:
    """GroupLens' `ratings.dat` when present, else the rebuilt `ratings-reconstructed.dat.gz`."""
    require_file(folder, "users.dat", "MovieLens-1M")  # names the folder when it is missing
    for name in RATINGS_1M:
        if (folder / name).is_file():
            return folder / name
    raise MissingDataError(
        f"MovieLens-1M: {folder} holds neither {' nor '.join(RATINGS_1M)}.",
        "the folder holding 'movielens-1m/' with one of them",
    )


def read_movielens(data_dir_=None, variant: str = "100k", zip_digits: int = 1) -> tuple[dict, str]:
    """Raw columns (one row per rating, in file order) and the source: which files were read."""
    variant = movielens_variant(variant)
    folder = data_dir(data_dir_) / FOLDERS[variant]
    read = _read_100k if variant == "100k" else _read_1m
    ratings, users, items, years, genre_flags, source = read(folder)
    return _columns(ratings, users, items, years, genre_flags, source, zip_digits), source


def _read_100k(folder: Path) -> tuple:
    """`(ratings, users, items, release years, genre flags, source)` of MovieLens-100K."""
    ratings = read_table(
        require_file(folder, "u.data", "MovieLens-100K"),
        names=RATING_COLUMNS,
        delimiter="\t",
        integer=RATING_COLUMNS,
    )
    users = _table(require_file(folder, "u.user", "MovieLens-100K"), "|", 5)
    items = _table(require_file(folder, "u.item", "MovieLens-100K"), "|", 5 + len(GENRES))
    years = [_year(d[-4:]) for d in items[:, 2]]
    genre_flags = items[:, 5:].astype(np.float32)
    return ratings, users, items, years, genre_flags, "MovieLens-100K (u.data, u.user, u.item)"


def _read_1m(folder: Path) -> tuple:
    """MovieLens-1M's files, users in the 100K column order (id|age|gender|occupation|zip)."""
    path = ratings_file_1m(folder)
    ratings = read_table(
        path, names=RATING_COLUMNS, delimiter="::", integer=RATING_COLUMNS, quoting=False
    )
    users = _table(require_file(folder, "users.dat", "MovieLens-1M"), "::", 5)
    movies = _table(require_file(folder, "movies.dat", "MovieLens-1M"), "::", 3)
    # users.dat: UserID::Gender::Age::Occupation::Zip -> the 100K order id|age|gender|occ|zip
    users = users[:, [0, 2, 1, 3, 4]]
    years = [
        _year(m.group(1)) if (m := re.search(r"\((\d{4})\)\s*$", t)) else np.nan
        for t in movies[:, 1]
    ]
    genre_flags = np.zeros((len(movies), len(GENRES)), np.float32)
    for row, names in enumerate(movies[:, 2]):
        for name in names.split("|"):
            key = _genre_key(name)
            if key not in GENRES:
                raise ValueError(
                    f"{folder / 'movies.dat'}: row {row + 1:,} has unknown genre {name!r}."
                )
            genre_flags[row, GENRES.index(key)] = 1.0
    source = f"MovieLens-1M ({path.name}, users.dat, movies.dat)"
    return ratings, users, movies, years, genre_flags, source


def _columns(ratings, users, items, years, genre_flags, source: str, zip_digits: int) -> dict:
    """One row per rating: the user's and the item's attributes joined, time, labels."""
    user_id, item_id = ratings["user_id"], ratings["item_id"]
    rating, ts = ratings["rating"].astype(np.float32), ratings["timestamp"]
    u_rows = _rows_of_ids(user_id, users[:, 0].astype(np.int64), source, "user")
    i_rows = _rows_of_ids(item_id, items[:, 0].astype(np.int64), source, "item")
    zip_prefix = np.asarray([z[:zip_digits] for z in users[:, 4]], dtype=object)

    def as_text(column):  # per user: rows share references
        return np.asarray(column.tolist(), dtype=object)

    columns = {
        "user_id": user_id,
        "item_id": item_id,
        "age": users[:, 1].astype(np.float64)[u_rows],
        "gender": as_text(users[:, 2])[u_rows],
        "occupation": as_text(users[:, 3])[u_rows],
        "zip_prefix": zip_prefix[u_rows],
        "release_year": np.asarray(years, np.float64)[i_rows],
        "hour": (ts // 3600) % 24,
        "weekday": (ts // 86400 + 3) % 7,  # 1970-01-01 was a Thursday (3 with Monday = 0)
        "timestamp": ts,
        "rating": rating,
        "activity_group": activity_groups(user_id),
        "label_ctr": (rating >= 4).astype(np.float32),
        "label_rating": rating,
    }
    for g, name in enumerate(GENRES):
        columns[f"genre_{name}"] = genre_flags[i_rows, g]
    return columns


def _rows_of_ids(ids: np.ndarray, table_ids: np.ndarray, source: str, what: str) -> np.ndarray:
    """For each id, its row in a users/items table; an id the table lacks is an error naming the
    rating row.
    """
    order = np.argsort(table_ids, kind="stable")
    pos = np.clip(np.searchsorted(table_ids[order], ids), 0, len(order) - 1)
    rows = order[pos]
    unknown = np.flatnonzero(table_ids[rows] != ids)
    if unknown.size:
        raise ValueError(
            f"{source}: rating row {int(unknown[0]) + 1:,} names unknown {what} id "
            f"{ids[unknown[0]]}."
        )
    return rows


def activity_groups(user_id: np.ndarray) -> np.ndarray:
    """Per row, the user's group by rating count in the whole file: new (<37), low (37-99), high
    (>=100).
    """
    uniq, inverse, counts = np.unique(user_id, return_inverse=True, return_counts=True)
    group = np.asarray(GROUPS)[np.digitize(counts, GROUP_THRESHOLDS)]
    return group[inverse]


def movielens_spec(embedding_dim: int = 8) -> FeatureSpec:
    """The MovieLens features (see module docstring); `embedding_dim` for every categorical."""

    def cat(name, dtype="string"):
        return CategoricalFeature(name, embedding_dim=embedding_dim, dtype=dtype)

    return FeatureSpec(
        [
            cat("user_id", "int64"),
            cat("item_id", "int64"),
            DenseFeature("age"),
            cat("gender"),
            cat("occupation"),
            cat("zip_prefix"),
        ]
        + [DenseFeature(f"genre_{g}") for g in GENRES]
        + [
            DenseFeature("release_year", missing="mean"),
            cat("hour", "int64"),
            cat("weekday", "int64"),
        ]
    )


def load_movielens(
    data_dir_=None,
    variant: str = "100k",
    seed: int = 0,
    tasks=("ctr", "rating"),
    embedding_dim: int = 8,
    zip_digits: int = 1,
) -> MultiTaskData:
    """MovieLens as `MultiTaskData`, random 8:1:1 split by `numpy.random.default_rng(seed)`.

    Args:
        data_dir_: data root (default `$TFMTL_DATA_DIR`).
        variant: "100k" (dataset `movielens100k`) or "1m" (dataset `movielens1m`).
        seed: split seed.
        tasks: names from {"ctr", "rating"} or `Task` objects; a Task may read any raw column
            (e.g. `label="label_ctr"`, `sample_space="activity_group in new,low"`).
        embedding_dim: embedding size of every categorical feature.
        zip_digits: leading characters of the zip code kept as `zip_prefix` (1 or 3 typical).
    """
    task_objs = []
    for t in tasks:
        if isinstance(t, Task):
            task_objs.append(t)
        elif t in TASKS:
            task_objs.append(TASKS[t])
        else:
            raise ValueError(
                f"Unknown MovieLens task {t!r}. Choose from {sorted(TASKS)} or pass a tfmtl.Task."
            )
    if int(zip_digits) < 1:
        raise ValueError(f"zip_digits must be >= 1. Received: zip_digits={zip_digits}")
    columns, source = read_movielens(data_dir_, variant, zip_digits)
    n = len(columns["rating"])
    indices = split_indices(n, seed, FRACTIONS)
    data = build_splits(columns, movielens_spec(embedding_dim), task_objs, indices, source)
    for name, idx in indices.items():
        data.splits[name].extras = {k: np.asarray(columns[k])[idx] for k in EXTRAS}
    sizes = ", ".join(f"{k} {len(v):,}" for k, v in data.splits.items())
    data.description = (
        f"{source}: random 8:1:1 split by numpy.random.default_rng({seed}); {sizes} rows; "
        f"tasks ctr (rating >= 4) and rating (MSE)"
    )
    return data


def _table(path, sep: str, min_fields: int) -> np.ndarray:
    with open(path, encoding="latin-1") as f:
        rows = [line.rstrip("\r\n").split(sep) for line in f if line.strip()]
    bad = [i for i, r in enumerate(rows) if len(r) < min_fields]
    if bad:
        raise ValueError(
            f"{path}: row {bad[0] + 1:,} has {len(rows[bad[0]])} fields; expected {min_fields}."
        )
    return np.asarray([r[:min_fields] for r in rows], dtype=object).astype(str)


def _genre_key(name: str) -> str:
    """ML-1M genre spelling -> `GENRES` name: "Children's" -> childrens, "Sci-Fi" -> sci_fi."""
    return re.sub(r"[^a-z]+", "_", name.lower().replace("'", "")).strip("_")


def _year(text: str) -> float:
    return float(text) if text.strip().isdigit() else np.nan
