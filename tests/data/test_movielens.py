"""MovieLens loader on the shipped ML-100K files and the ML-1M rebuild, and the ML-1M parser on a
tiny written copy.
"""

import numpy as np
import pytest

from tfmtl.data import load_dataset, load_movielens
from tfmtl.data.movielens import GENRES, activity_groups, read_movielens
from tfmtl.data.paths import data_dir
from tfmtl.tasks import Task

ML1M = data_dir() / "movielens-1m"


@pytest.fixture(scope="module")
def data():
    return load_movielens(seed=0)


@pytest.fixture(scope="module")
def raw():
    return read_movielens(variant="100k")[0]


def test_row_counts_and_split_sizes(data, raw):
    assert len(raw["rating"]) == 100_000
    assert len(np.unique(raw["user_id"])) == 943 and len(np.unique(raw["item_id"])) == 1682
    assert {k: len(v) for k, v in data.splits.items()} == {
        "train": 80_000,
        "validation": 10_000,
        "test": 10_000,
    }
    assert "default_rng(0)" in data.description and "8:1:1" in data.description


def test_splits_partition_the_ratings(data):
    keys = [
        set(
            zip(
                s.extras["user_id"].tolist(),
                s.extras["item_id"].tolist(),
                s.extras["timestamp"].tolist(),
            )
        )
        for s in data.splits.values()
    ]
    assert sum(len(k) for k in keys) == 100_000  # (user, item, time) unique per rating
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])


def test_label_rate_and_rating_values(data, raw):
    assert np.mean(raw["rating"] >= 4) == pytest.approx(0.55375, abs=1e-9)  # 55.4%
    for s in data.splits.values():
        np.testing.assert_array_equal(s.labels["ctr"], (s.extras["rating"] >= 4).astype(np.float32))
        np.testing.assert_array_equal(s.labels["rating"], s.extras["rating"])
        assert set(np.unique(s.labels["rating"])) <= {1.0, 2.0, 3.0, 4.0, 5.0}


def test_activity_group_sizes(raw):
    users, first = np.unique(raw["user_id"], return_index=True)
    groups, counts = np.unique(raw["activity_group"][first], return_counts=True)
    assert dict(zip(groups.tolist(), counts.tolist())) == {"new": 273, "low": 306, "high": 364}


def test_activity_group_thresholds():
    ids = np.repeat([1, 2, 3, 4, 5], [36, 37, 99, 100, 20])
    group = dict(zip(ids.tolist(), activity_groups(ids).tolist()))
    assert group == {1: "new", 2: "low", 3: "low", 4: "high", 5: "new"}


def test_no_label_leakage_and_extras_not_features(data):
    names = set(data.spec.names)
    assert not names & {"rating", "label_ctr", "label_rating", "timestamp", "activity_group"}
    for s in data.splits.values():
        assert set(s.features) == names
        assert set(s.extras) == {"user_id", "item_id", "timestamp", "rating", "activity_group"}
        assert all(len(v) == len(s) for v in s.extras.values())
    # vocabularies come from train only: an item seen only outside train is not in the vocabulary
    train_items = set(data["train"].extras["item_id"].tolist())
    assert set(data.spec["item_id"].vocabulary) == train_items


def test_feature_values(data, raw):
    assert [n for n in data.spec.names if n.startswith("genre_")] == [f"genre_{g}" for g in GENRES]
    # u.item row 1 (Toy Story): Animation, Children's, Comedy; released 1995
    toy = np.flatnonzero(raw["item_id"] == 1)[0]
    assert {g for g in GENRES if raw[f"genre_{g}"][toy] == 1} == {
        "animation",
        "childrens",
        "comedy",
    }
    assert raw["release_year"][toy] == 1995
    assert np.isnan(
        raw["release_year"]
    ).any()  # item 267 has no date: NaN -> train mean in the model
    # u.data row 1: user 196, item 242, 881250949 = Thu 1997-12-04 15:55:49 UTC
    assert (raw["user_id"][0], raw["item_id"][0], raw["hour"][0], raw["weekday"][0]) == (
        196,
        242,
        15,
        3,
    )
    assert (
        raw["gender"][0] == "M" and raw["occupation"][0] == "writer" and raw["zip_prefix"][0] == "5"
    )
    s = data["train"]
    assert s.features["age"].dtype == np.float32 and s.features["user_id"].dtype == np.int64
    assert set(np.unique(s.features["hour"])) <= set(range(24)) and set(
        np.unique(s.features["weekday"])
    ) == set(range(7))


def test_seed_changes_split_and_registry(data):
    other = load_dataset("movielens100k", seed=1, tasks=("ctr",), zip_digits=3)
    assert [t.name for t in other.tasks] == ["ctr"]
    assert not np.array_equal(other["test"].extras["timestamp"], data["test"].extras["timestamp"])
    assert max(len(z) for z in other["train"].features["zip_prefix"]) == 3


def test_custom_task_reads_extra_columns():
    task = Task("ctr_new", kind="binary", label="label_ctr", sample_space="activity_group == new")
    d = load_movielens(tasks=[task])
    s = d["train"]
    inside = s.extras["activity_group"] == "new"
    assert (
        np.isnan(s.labels["ctr_new"][~inside]).all()
        and np.isfinite(s.labels["ctr_new"][inside]).all()
    )


def test_errors_name_the_culprit(tmp_path):
    with pytest.raises(ValueError, match="Unknown dataset 'movielens'.*movielens100k, movielens1m"):
        load_dataset("movielens")
    with pytest.raises(ValueError, match="variant='2m'"):
        load_movielens(variant="2m")
    with pytest.raises(ValueError, match="'clicks'"):
        load_movielens(tasks=("clicks",))
    with pytest.raises(FileNotFoundError, match="movielens-100k"):
        load_movielens(data_dir_=tmp_path, variant="100k")


def test_movielens_1m_format(tmp_path):
    folder = tmp_path / "movielens-1m"
    folder.mkdir()
    users = ["1::F::1::10::48067", "2::M::56::16::70072"]
    movies = [
        "1::Toy Story (1995)::Animation|Children's|Comedy",
        "2::Jumanji (1995)::Adventure|Sci-Fi|Film-Noir",
    ]
    ratings = [
        f"{u}::{m}::{r}::978300760" for u, m, r in [(1, 1, 5), (1, 2, 3), (2, 1, 4), (2, 2, 1)] * 10
    ]
    for name, lines in (("users.dat", users), ("movies.dat", movies), ("ratings.dat", ratings)):
        (folder / name).write_text("\n".join(lines) + "\n", encoding="latin-1")
    with pytest.raises(FileNotFoundError, match="movielens-100k"):
        read_movielens(tmp_path)  # 100K is the default: never swapped for whatever is on disk
    columns, source = read_movielens(tmp_path, "1m")
    assert "MovieLens-1M (ratings.dat," in source and len(columns["rating"]) == 40
    assert (
        columns["gender"][0] == "F" and columns["age"][0] == 1 and columns["occupation"][0] == "10"
    )
    assert (
        columns["genre_sci_fi"][1] == 1
        and columns["genre_film_noir"][1] == 1
        and columns["genre_childrens"][0] == 1
    )
    assert columns["release_year"][0] == 1995 and set(columns["activity_group"]) == {"new"}
    d = load_dataset("movielens1m", data_dir_=tmp_path, seed=3)
    assert sum(len(s) for s in d.splits.values()) == 40 and len(d["train"]) == 32
    (folder / "ratings.dat").unlink()
    with pytest.raises(
        FileNotFoundError, match="holds neither ratings.dat nor ratings-reconstructed.dat.gz"
    ):
        read_movielens(tmp_path, "1m")


def test_movielens_1m_bad_rating_line_is_named(tmp_path):
    folder = tmp_path / "movielens-1m"
    folder.mkdir()
    (folder / "users.dat").write_text("1::F::1::10::48067\n")
    (folder / "movies.dat").write_text("1::Toy Story (1995)::Animation\n")
    (folder / "ratings.dat").write_text("1::1::5::978300760\n1::1::five::978300760\n")
    with pytest.raises(
        ValueError, match="ratings.dat: line 2, column 'rating' is 'five', not an integer"
    ):
        read_movielens(tmp_path, "1m")
    (folder / "ratings.dat").write_text("1::1::5::978300760\n1::7::5::978300760\n")
    with pytest.raises(ValueError, match="rating row 2 names unknown item id 7"):
        read_movielens(tmp_path, "1m")


@pytest.mark.skipif(
    not (ML1M / "ratings-reconstructed.dat.gz").is_file() or (ML1M / "ratings.dat").is_file(),
    reason="needs the ML-1M rebuild (and no ratings.dat beside it)",
)
def test_movielens_1m_rebuild():
    d = load_dataset("movielens1m", seed=0)
    assert "ratings-reconstructed.dat.gz" in d.description
    assert {k: len(v) for k, v in d.splits.items()} == {
        "train": 800_096,
        "validation": 100_012,
        "test": 100_012,
    }
    users = np.concatenate([s.extras["user_id"] for s in d.splits.values()])
    items = np.concatenate([s.extras["item_id"] for s in d.splits.values()])
    ratings = np.concatenate([s.extras["rating"] for s in d.splits.values()])
    assert len(np.unique(users)) == 6_040 and len(np.unique(items)) == 3_647  # PROVENANCE.md
    counts = dict(zip(*np.unique(ratings, return_counts=True)))
    assert counts == {1.0: 56_157, 2.0: 107_551, 3.0: 261_168, 4.0: 348_943, 5.0: 226_301}
    np.testing.assert_array_equal(
        d["test"].labels["ctr"], (d["test"].extras["rating"] >= 4).astype(np.float32)
    )
    assert set(d.spec.names) == set(load_movielens().spec.names)  # the same features as ML-100K
