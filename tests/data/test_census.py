"""The Census loader on the real files: the protocol that what is present implies, and both."""

import gzip

import numpy as np
import pytest

from tfmtl.data import census, load_census
from tfmtl.data.paths import data_dir

FOLDER = data_dir() / "census-income"
HAS_TRAIN_FILE = (FOLDER / census.TRAIN_FILE).is_file()
needs_train_file = pytest.mark.skipif(not HAS_TRAIN_FILE, reason="census-income.data.gz absent")
TEST_ONLY_SIZES = {"train": 59_857, "validation": 19_952, "test": 19_953}
PUBLISHED_SIZES = {"train": 199_523, "validation": 49_881, "test": 49_881}


@pytest.fixture(scope="module")
def data():
    return load_census()  # the protocol the present files imply


@pytest.fixture(scope="module")
def test_only():
    return load_census(protocol="test-only")


@pytest.fixture()
def only_test_file(tmp_path):
    """A data root holding the shipped test file alone (linked, not copied)."""
    (tmp_path / "census-income").mkdir()
    (tmp_path / "census-income" / census.TEST_FILE).symlink_to(FOLDER / census.TEST_FILE)
    return tmp_path


def test_default_protocol_follows_the_files(data):
    sizes = {k: len(v) for k, v in data.splits.items()}
    if HAS_TRAIN_FILE:
        assert sizes == PUBLISHED_SIZES and "published protocol" in data.description
    else:
        assert sizes == TEST_ONLY_SIZES and "test-only protocol" in data.description


def test_test_only_protocol(test_only):
    assert {k: len(v) for k, v in test_only.splits.items()} == TEST_ONLY_SIZES
    assert "60/20/20" in test_only.description and "default_rng(2026)" in test_only.description


def test_without_the_training_file_the_split_is_test_only(only_test_file, test_only):
    alone = load_census(only_test_file)
    assert {
        k: len(v) for k, v in alone.splits.items()
    } == TEST_ONLY_SIZES and "absent" in alone.description
    np.testing.assert_array_equal(alone["test"].features["age"], test_only["test"].features["age"])
    with pytest.raises(FileNotFoundError, match="census-income.data.gz is missing"):
        load_census(only_test_file, protocol="published")


def test_split_is_the_provenance_permutation(test_only):
    raw = census.read_census_file(FOLDER / census.TEST_FILE)
    order = np.random.default_rng(2026).permutation(99_762)
    np.testing.assert_array_equal(
        test_only["test"].features["age"], raw["age"][order[-19_953:]].astype(np.float32)
    )


@needs_train_file
def test_published_split_is_the_training_file_and_the_halved_test_file(data):
    train_raw = census.read_census_file(FOLDER / census.TRAIN_FILE)
    np.testing.assert_array_equal(
        data["train"].features["age"], train_raw["age"].astype(np.float32)
    )
    test_raw = census.read_census_file(FOLDER / census.TEST_FILE)
    order = np.random.default_rng(2026).permutation(99_762)
    np.testing.assert_array_equal(
        data["validation"].features["age"], test_raw["age"][order[:49_881]].astype(np.float32)
    )
    np.testing.assert_array_equal(
        data["test"].features["education"], test_raw["education"][order[49_881:]]
    )


def test_label_rates(test_only):
    labels = {
        k: np.concatenate([test_only[s].labels[k] for s in test_only.splits])
        for k in ("income", "never_married")
    }
    assert labels["income"].mean() == pytest.approx(0.062, abs=0.001)
    assert labels["never_married"].mean() == pytest.approx(0.432, abs=0.001)


@needs_train_file
def test_training_file_label_rates(data):
    # PROVENANCE.md: 12,382 of the 199,523 training rows are "50000+."
    assert int(data["train"].labels["income"].sum()) == 12_382
    assert data["train"].labels["never_married"].mean() == pytest.approx(0.43, abs=0.01)


def test_no_label_leakage_into_inputs(data):
    names = set(data.spec.names)
    assert (
        "marital_status" not in names and "income" not in names and "instance_weight" not in names
    )
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
    with pytest.raises(ValueError, match="census-income.test.gz: line 2 has 3 fields; expected 42"):
        load_census(data_dir_=tmp_path)


def test_unknown_task_and_protocol():
    with pytest.raises(ValueError, match=r"Unknown Census task\(s\) \['age'\]"):
        load_census(tasks=("income", "age"))
    with pytest.raises(ValueError, match="protocol='paper'"):
        load_census(protocol="paper")
