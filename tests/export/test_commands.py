"""`tfmtl export` and `tfmtl inspect` through the CLI entry point."""

from __future__ import annotations

import json

import pytest

from tests.export.conftest import tiny_model
from tfmtl.cli import main
from tfmtl.export import read_metadata


@pytest.fixture(scope="module")
def run_dir(tiny_data, tmp_path_factory):
    """A `tfmtl train`-like run folder: model.keras and metrics.json."""
    run = tmp_path_factory.mktemp("run")
    tiny_model("mmoe", tiny_data).save(run / "model.keras")
    (run / "metrics.json").write_text(
        json.dumps({"model": "mmoe", "test": {"ctr": {"auc": 0.71, "count": 60}}})
    )
    return run


def export(run_dir, base, *flags: str) -> int:
    """`tfmtl export` of the run's model.keras as BASE/ranker, with `flags` added."""
    model = str(run_dir / "model.keras")
    return main(["export", "--model", model, "--base", str(base), "--name", "ranker", *flags])


def test_export_then_inspect(run_dir, tmp_path, capsys):
    base = tmp_path / "models"
    assert export(run_dir, base) == 0
    out = capsys.readouterr().out
    assert f"-> {base / 'ranker' / '1'} in " in out and " MB)" in out
    meta = read_metadata(base / "ranker" / "1")
    assert meta["metrics"]["test"]["ctr"]["auc"] == 0.71 and meta["model"]["zoo"] == "mmoe"

    assert export(run_dir, base, "--version", "5", "--fusion", '{"weights": {"watch": 0.2}}') == 0
    capsys.readouterr()
    assert main(["inspect", str(base / "ranker")]) == 0
    shown = capsys.readouterr().out
    assert shown.splitlines()[0].startswith(f"{base / 'ranker' / '5'}  (versions: 1, 5)")
    for text in (
        "signature serving_default",
        "signature serving_examples",
        "input   examples",
        "output  ctr",
        "output  cvr",
        "output  watch",
        "input   city                     string",
        "fusion    product of ctr^1, cvr^1, watch^0.2",
        "test.ctr.auc",
        "warmup    3 request(s)",
    ):
        assert text in shown, text

    assert main(["inspect", str(base / "ranker" / "1"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["metadata"]["model"]["version"] == 1
    assert sorted(info["signatures"]["serving_default"]["outputs"]) == ["ctr", "cvr", "watch"]
    assert info["signatures"]["serving_default"]["inputs"]["hist"]["shape"] == [-1, 3]


def test_user_errors_exit_2_with_one_line(run_dir, tmp_path, capsys):
    model = str(run_dir / "model.keras")
    cases = [
        (
            [
                "export",
                "--model",
                str(tmp_path / "missing.keras"),
                "--base",
                str(tmp_path),
                "--name",
                "r",
            ],
            "missing.keras is not a file",
        ),
        (
            ["export", "--model", model, "--base", str(run_dir / "metrics.json"), "--name", "r"],
            "is a file, not a directory",
        ),
        (
            [
                "export",
                "--model",
                model,
                "--base",
                str(tmp_path),
                "--name",
                "r",
                "--fusion",
                "{oops",
            ],
            "--fusion is not valid JSON",
        ),
        (
            [
                "export",
                "--model",
                model,
                "--base",
                str(tmp_path),
                "--name",
                "r",
                "--metrics",
                str(tmp_path / "no.json"),
            ],
            "no.json is not a file",
        ),
        (
            ["inspect", str(tmp_path)],
            "holds neither saved_model.pb nor an integer version directory",
        ),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(f"tfmtl {argv[0]}: error: ") and message in err, (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
