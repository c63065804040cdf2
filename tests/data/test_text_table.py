"""The columnar text reader against Python's csv module and hand-written expectations."""

import csv
import gzip

import numpy as np
import pytest

from tfmtl.data.text_table import read_table


def test_matches_the_csv_module_on_quoted_text(tmp_path):
    path = tmp_path / "t.csv"
    rows = [
        ["name", "note", "n"],
        ["a", 'said "hi", then left', "1.5"],
        ["b", "", "-2"],
        ["a", "x,y", "1e3"],
    ]
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    table = read_table(path, numeric=("n",))
    assert table["name"].tolist() == ["a", "b", "a"] and table["note"].tolist() == [
        r[1] for r in rows[1:]
    ]
    np.testing.assert_array_equal(table["n"], [1.5, -2.0, 1000.0])
    assert (
        table["name"].dtype == object and table["name"][0] is table["name"][2]
    )  # one shared str per value


def test_gzip_strip_multichar_delimiter_and_subset(tmp_path):
    path = tmp_path / "t.dat.gz"
    with gzip.open(path, "wt", encoding="latin-1") as f:
        f.write("1:: Amélie (2001) ::7\n2::Brazil::\n")
    table = read_table(
        path,
        names=["id", "title", "votes"],
        delimiter="::",
        integer=("id",),
        numeric=("votes",),
        strip=True,
        quoting=False,
        encoding="latin-1",
    )
    assert table["id"].dtype == np.int64 and table["id"].tolist() == [1, 2]
    assert table["title"].tolist() == ["Amélie (2001)", "Brazil"]
    assert table["votes"][0] == 7 and np.isnan(table["votes"][1])
    assert list(
        read_table(
            path,
            names=["id", "title", "votes"],
            delimiter="::",
            columns=["title"],
            quoting=False,
            encoding="latin-1",
        )
    ) == ["title"]


def test_errors_name_file_line_and_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n3\n")
    with pytest.raises(ValueError, match=r"t\.csv: line 3 has 1 fields; expected 2\."):
        read_table(path)
    path.write_text("a,b\n1,2\n3,four\n")
    with pytest.raises(ValueError, match=r"t\.csv: line 3, column 'b' is 'four', not a number\."):
        read_table(path, numeric=("b",))
    path.write_text("a,b\n1,2\n3,\n")
    with pytest.raises(ValueError, match=r"line 3, column 'b' is '', not an integer\."):
        read_table(path, integer=("b",))
    with pytest.raises(ValueError, match=r"column\(s\) \['c'\] not in the header \['a', 'b'\]"):
        read_table(path, numeric=("c",))
    path.write_text("")
    with pytest.raises(ValueError, match="is empty: expected a header row"):
        read_table(path)
