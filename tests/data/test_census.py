"""The Census loader on the real shipped file."""

import gzip

import numpy as np
import pytest

from tfmtl.data import census, load_census


@pytest.fixture(scope="module")
def data():
    return load_census()


def test_split_sizes_and_protocol(data):
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 59_857, "validation": 19_952, "test": 19_953}
    assert "60/20/20" in data.description and "default_rng(2026)" in data.description


def test_split_is_the_provenance_permutation(data):
    raw = census.read_census_file(census.data_dir() / "census-income" / census.TEST_FILE)
    order = np.random.default_rng(2026).permutation(99_762)
    np.testing.assert_array_equal(data["test"].features["age"], raw["age"][order[-19_953:]].astype(np.float32))


def test_label_rates(data):
    labels = {k: np.concatenate([data[s].labels[k] for s in data.splits]) for k in ("income", "never_married")}
    assert labels["income"].mean() == pytest.approx(0.062, abs=0.001)
    assert labels["never_married"].mean() == pytest.approx(0.432, abs=0.001)


def test_no_label_leakage_into_inputs(data):
    names = set(data.spec.names)
    assert "marital_status" not in names and "income" not in names and "instance_weight" not in names
    assert len(names) == 39
    three = load_census(tasks=("income", "never_married", "education"))
    assert "education" not in three.spec.names


def test_vocabulary_from_train_only(data):
    train_values = set(data["train"].features["state_of_previous_residence"])
    assert set(data.spec["state_of_previous_residence"].vocabulary) == train_values


def test_missing_directory_says_which_file_and_variable(tmp_path):
    with pytest.raises(FileNotFoundError, match="TFMTL_DATA_DIR"):
        load_census(data_dir_=tmp_path)
    (tmp_path / "census-income").mkdir()
    with pytest.raises(FileNotFoundError, match="census-income.test.gz is missing"):
        load_census(data_dir_=tmp_path)


def test_malformed_row_is_named(tmp_path):
    folder = tmp_path / "census-income"
    folder.mkdir()
    with gzip.open(folder / census.TEST_FILE, "wt") as f:
        f.write(", ".join(["1"] * 42) + "\n" + "1, 2, 3\n")
    with pytest.raises(ValueError, match="row 2 has 3 fields"):
        load_census(data_dir_=tmp_path)


def test_unknown_task():
    with pytest.raises(ValueError, match=r"Unknown Census task\(s\) \['age'\]"):
        load_census(tasks=("income", "age"))
