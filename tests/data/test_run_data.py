"""A user's own files through a run config: readers, inferred features, labels, splits, errors."""

import gzip

import numpy as np
import pytest

from tfmtl.config import parse_config
from tfmtl.data.files import read_columns
from tfmtl.data.infer import infer_features
from tfmtl.data.run_data import config_features, load_run_data


def raw_rows(n: int, seed: int = 0):
    """Rows of a raw, header-less file: ', ' separators, '?' for missing, text labels."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, n)
    gains = np.where(rng.random(n) < 0.8, 0, rng.integers(100, 99_999, n))
    city = rng.choice(["paris", "rome", "oslo", "?"], n)
    income = np.where((age > 40) & (rng.random(n) < 0.7), ">50K", "<=50K")
    return [f"{a}, {g}, {c}, {i}" for a, g, c, i in zip(age, gains, city, income)]


def write(path, lines, header=None):
    text = "\n".join(([header] if header else []) + lines) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def test_text_formats_read_numbers_text_and_missing_cells(tmp_path):
    path = write(tmp_path / "raw.csv.gz", raw_rows(50), header=None)
    table = read_columns(
        path, header=False, column_names=["age", "gains", "city", "income"], skip_initial_space=True
    )
    assert table.columns["age"].dtype == np.float64 and table.columns["city"].dtype == object
    assert "" in set(table.columns["city"]) and "?" not in set(table.columns["city"])
    assert table.line(0) == "line 1"
    tsv = write(tmp_path / "t.tsv", ["1\tx", "\ty"], header="a\tb")
    table = read_columns(tsv)
    assert np.isnan(table.columns["a"][1]) and table.line(1) == "line 3"


def test_parquet_reads_like_csv(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"price": [1.5, None, 3.0], "city": ["a", None, "b"], "n": [1, 2, 3]}),
        tmp_path / "t.parquet",
    )
    table = read_columns(tmp_path / "t.parquet")
    assert np.isnan(table.columns["price"][1]) and table.columns["city"].tolist() == ["a", "", "b"]
    assert table.columns["n"].tolist() == [1.0, 2.0, 3.0] and table.line(2) == "record 3"


def test_tfrecord_of_examples_reads_scalar_features(tmp_path):
    import tensorflow as tf

    path = tmp_path / "t.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as w:
        for i in range(5):
            w.write(
                tf.train.Example(
                    features=tf.train.Features(
                        feature={
                            "price": tf.train.Feature(
                                float_list=tf.train.FloatList(value=[i * 0.5])
                            ),
                            "clicks": tf.train.Feature(int64_list=tf.train.Int64List(value=[i])),
                            "city": tf.train.Feature(
                                bytes_list=tf.train.BytesList(
                                    value=[b"paris" if i % 2 else b"rome"]
                                )
                            ),
                        }
                    )
                ).SerializeToString()
            )
    table = read_columns(path)
    assert table.columns["price"].tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert (
        table.columns["clicks"].tolist() == [0, 1, 2, 3, 4] and table.columns["city"][1] == "paris"
    )


def test_empty_and_header_only_files_are_errors(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="empty.csv is empty"):
        read_columns(tmp_path / "empty.csv")
    (tmp_path / "head.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="head.csv has a header but no data rows"):
        read_columns(tmp_path / "head.csv")


def test_inference_picks_dense_buckets_log1p_vocabularies_hashing_and_skips_ids():
    rng = np.random.default_rng(0)
    n = 120_000
    columns = {
        "age": rng.integers(18, 90, n).astype(np.float64),
        "amount": np.where(rng.random(n) < 0.9, 0.0, rng.exponential(5000, n)),
        "user_id": rng.integers(0, 1000, n).astype(np.float64),
        "city": rng.choice(["a", "b", "c"], n).astype(object),
        "session": np.array([f"s{i % 110_000}" for i in range(n)], dtype=object),
        "row_id": np.array([f"r{i}" for i in range(n)], dtype=object),
        "constant": np.ones(n),
        "score": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
    }
    features, notes = infer_features(columns)
    by = {f.name: f for f in features}
    assert (
        by["age"].kind == "dense" and by["age"].num_buckets == 255 and by["age"].transform == "none"
    )
    assert by["amount"].transform == "log1p" and "heavy-tailed" in notes["amount"]
    assert by["user_id"].kind == "categorical" and by["user_id"].dtype == "int64"
    assert by["city"].kind == "categorical" and by["city"].num_hash_bins is None
    assert by["session"].num_hash_bins == 1 << 17
    assert by["score"].missing == "mean" and "missing -> mean" in notes["score"]
    assert "row_id" not in by and "constant" not in by
    assert notes["constant"] == "skipped: a single value"


def _census_like(tmp_path, n=3000):
    write(tmp_path / "train.csv", raw_rows(n, seed=1))
    write(tmp_path / "test.csv", raw_rows(n // 2, seed=2))
    return """
data: {train: train.csv, test: test.csv, column_names: [age, gains, city, income],
skip_initial_space: true}
tasks:
  - {name: rich, label: income, positive: [">50K"]}
  - {name: old, kind: regression, label: age}
features:
  - {name: gains, buckets: 8, embedding_dim: 3}
"""


def test_files_become_splits_with_labels_from_positive_values(tmp_path):
    config = parse_config(_census_like(tmp_path), base_dir=tmp_path)
    data, notes = load_run_data(config)
    assert (
        sorted(data.splits) == ["test", "train"]
        and len(data["train"]) == 3000
        and len(data["test"]) == 1500
    )
    assert data.spec.names == ["gains", "city"]  # label columns are never inputs
    assert data.spec["gains"].num_buckets == 8 and data.spec["gains"].embedding_dim == 3
    assert data.spec["gains"].transform == "log1p"  # kept from inference where not overridden
    raw = read_columns(
        tmp_path / "test.csv",
        header=False,
        column_names=["age", "gains", "city", "income"],
        skip_initial_space=True,
    )
    np.testing.assert_array_equal(
        data["test"].labels["rich"], (raw.columns["income"] == ">50K").astype(np.float32)
    )
    np.testing.assert_array_equal(data["test"].labels["old"], raw.columns["age"].astype(np.float32))
    assert (
        notes["gains"] == "dense: as configured" and config_features(data.spec)[0]["buckets"] == 8
    )


def test_a_split_file_is_cut_by_seed_without_overlap(tmp_path):
    write(tmp_path / "all.csv", [f"{i},{i % 2}" for i in range(1000)], header="x,click")
    config = parse_config(
        "data: {path: all.csv, split: [0.8, 0.1, 0.1], seed: 5}\ntasks: [{name: click}]",
        base_dir=tmp_path,
    )
    data, _ = load_run_data(config)
    parts = [set(data[s].features["x"].tolist()) for s in ("train", "validation", "test")]
    assert [len(p) for p in parts] == [800, 100, 100] and len(set.union(*parts)) == 1000


@pytest.mark.parametrize(
    "tasks, message",
    [
        ("[{name: rich, label: incme}]", "tasks[0].label: {path} has no column 'incme'"),
        (
            "[{name: rich, label: income}]",
            "tasks[0].positive: label column 'income' holds text ('<=50K' on line 1",
        ),
        ("[{name: a, label: gains}]", "{path}: line 2: label 'gains' of binary task 'a' is"),
    ],
)
def test_label_errors_name_the_file_line_and_key(tmp_path, tasks, message):
    write(tmp_path / "t.csv", ["30, 0, rome, <=50K", "50, 7000, oslo, >50K"])
    config = parse_config(
        "data: {train: t.csv, column_names: [age, gains, city, income], "
        "skip_initial_space: true}\n"
        f"tasks: {tasks}",
        base_dir=tmp_path,
    )
    with pytest.raises(ValueError) as e:
        load_run_data(config)
    assert message.format(path=tmp_path / "t.csv") in str(e.value)


def test_feature_overrides_are_checked(tmp_path):
    write(tmp_path / "t.csv", ["1,a,0", "2,b,1"], header="x,city,click")
    for features, message in (
        ("[{name: nope}]", "features[0]: {path} has no column 'nope'"),
        ("[{name: click}]", "features[0].name: 'click' is a label or dropped column"),
        ("[{name: city, kind: dense}]", "features[0]: 'city' holds text, so it cannot be dense"),
        ("[{name: city, buckets: 3}]", "features[0]: a categorical feature has no buckets"),
    ):
        config = parse_config(
            f"data: {{train: t.csv}}\ntasks: [{{name: click}}]\nfeatures: {features}",
            base_dir=tmp_path,
        )
        with pytest.raises(ValueError) as e:
            load_run_data(config)
        assert message.format(path=tmp_path / "t.csv") in str(e.value)
