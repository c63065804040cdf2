"""`tfmtl demo`: train, export, serve and rank end to end (slow), and its registration."""

from __future__ import annotations

import pytest

from tfmtl import cli


def test_demo_is_a_cli_command():
    assert cli.build_parser().parse_args(["demo"]).func.__module__ == "tfmtl.cli.demo"


@pytest.mark.slow
def test_demo_runs_end_to_end(capsys):
    argv = ["demo", "--rows", "2000", "--epochs", "1", "--queries", "3", "--candidates", "4"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("query ") == 3 and "5/5 ranking" in out and "done" in out
