"""tfmtl.data.paths: a missing dataset names the file and how a Python caller gives the folder."""

import pytest

from tfmtl.data.paths import MissingDataError, require_file


def test_missing_folder_names_the_loader_argument(tmp_path):
    with pytest.raises(
        MissingDataError,
        match=r"does not exist\. Set TFMTL_DATA_DIR \(or the loader's `data_dir_` argument\)",
    ):
        require_file(tmp_path / "census", "census-income.test.gz", "Census-Income")


def test_message_can_name_another_setting(tmp_path):
    (tmp_path / "census").mkdir()
    with pytest.raises(MissingDataError) as caught:
        require_file(tmp_path / "census", "census-income.test.gz", "Census-Income")
    assert caught.value.message("--data-dir") == (
        f"Census-Income: file {tmp_path / 'census' / 'census-income.test.gz'} is missing. "
        "Set TFMTL_DATA_DIR (or --data-dir) to the folder holding 'census/census-income.test.gz'."
    )
    assert isinstance(caught.value, FileNotFoundError)
