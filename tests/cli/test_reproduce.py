"""`tfmtl reproduce`: each table's --quick Markdown, its resume, its one-line errors."""

from __future__ import annotations

import json
import re
import types

import pytest

from tfmtl.cli import main
from tfmtl.config import load_config
from tfmtl.models import registry
from tfmtl.reproduce import CONFIGS, available_tables, load_table, runner


def _table_rows(markdown: str) -> tuple[list, dict]:
    """The header cells, and each row's cells by its label."""
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    split = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return split[0], {cells[0]: cells[1:] for cells in split[1:]}


def _quick(name: str, out) -> str:
    assert main(["reproduce", name, "--quick", "--out", str(out)]) == 0
    return (out / f"{name}.md").read_text()


@pytest.fixture(scope="module")
def funnel(tmp_path_factory):
    """One --quick esmm-funnel run: its output folder."""
    out = tmp_path_factory.mktemp("reproduce")
    _quick("esmm-funnel", out)
    return out


def _check_markdown(name: str, markdown: str, out) -> None:
    table = load_table(name)
    assert markdown.startswith(f"# {name}: {table.TITLE}")
    assert f"tfmtl reproduce {name} --quick --out {out}" in markdown.splitlines()[2]
    header, rows = _table_rows(markdown)
    want = ["model"]
    for _, title in table.COLUMNS:
        want += [title, f"{title} (paper)"]
    assert header == [*want, "params", "epochs", "seeds"]
    assert list(rows) == [v.label for v in table.VARIANTS]
    for variant in table.VARIANTS:
        cells = rows[variant.label]
        assert cells[-1] == "1" and cells[-2] == "1"  # one seed of one epoch
        for i, (key, _) in enumerate(table.COLUMNS):
            assert cells[2 * i + 1] == variant.paper.get(key, "-")  # the paper beside ours
            assert re.fullmatch(r"-|-?\d+\.\d{4} ± \d+\.\d{4}", cells[2 * i])
    runs = [json.loads(line) for line in (out / f"{name}.jsonl").read_text().splitlines()]
    assert len(runs) == len(table.VARIANTS)
    assert all(r["train_rows"] <= 300 for r in runs)


def test_esmm_funnel_quick_table(funnel):
    _check_markdown("esmm-funnel", (funnel / "esmm-funnel.md").read_text(), funnel)


@pytest.mark.parametrize("name", [n for n in available_tables() if n != "esmm-funnel"])
def test_quick_table(name, tmp_path):
    _check_markdown(name, _quick(name, tmp_path), tmp_path)


def test_rerun_skips_finished_runs(funnel, capsys, monkeypatch):
    before = (funnel / "esmm-funnel.jsonl").read_text()

    def refuse(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(runner, "_train", refuse)
    monkeypatch.setattr(runner, "_load", refuse)  # nothing to train: the data is not read
    capsys.readouterr()
    assert main(["reproduce", "esmm-funnel", "--quick", "--out", str(funnel)]) == 0
    assert capsys.readouterr().out.count("on file, skipped") == 4
    assert (funnel / "esmm-funnel.jsonl").read_text() == before


def test_a_killed_run_resumes_with_what_is_missing(funnel, tmp_path, monkeypatch):
    lines = (funnel / "esmm-funnel.jsonl").read_text().splitlines()
    (tmp_path / "esmm-funnel.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])
    trained = []

    def fake(table, config, data, entry, seed, eager):
        trained.append(entry["model"]["family"])
        return {"metric": {}, "validation": None, "params": 1, "epochs": 1, "train_rows": 300}

    monkeypatch.setattr(runner, "_train", fake)
    assert main(["reproduce", "esmm-funnel", "--quick", "--out", str(tmp_path)]) == 0
    assert trained == ["esmm", "aitm"]  # the half-written third run and the fourth
    _, rows = _table_rows((tmp_path / "esmm-funnel.md").read_text())
    assert rows["AITM (click -> conversion, calibrator 0.6)"][0] == "-"  # fake: no metric


def test_every_table_has_a_run_config_and_resolvable_rows():
    for name in available_tables():
        table = load_table(name)
        config = load_config(CONFIGS / table.CONFIG)  # what `tfmtl train --config` reads
        assert config["data"]["dataset"] and table.SEEDS >= 1
        assert len({v.label for v in table.VARIANTS}) == len(table.VARIANTS)
        keys = {k for k, _ in table.COLUMNS}
        assert any(v.paper for v in table.VARIANTS) or name == "esmm-funnel"
        for variant in table.VARIANTS:
            assert set(variant.paper) <= keys
            if not hasattr(table, "build"):
                registry.resolve(variant.model)


def test_adatt_rows_tune_the_shared_experts_outside_quick():
    table = load_table("adatt-census")
    tuned = {v.label: [m["num_shared_experts"] for m in v.tune] for v in table.VARIANTS if v.tune}
    assert tuned == {
        "AdaTT, 6 experts": [0, 3],
        "PLE, 9 experts": [3, 6],
        "AdaTT, 9 experts": [0, 3, 6],
    }


def test_tuned_rows_take_the_best_validation_candidate(tmp_path, monkeypatch):
    """Outside --quick, AdaTT's and PLE's m_s is chosen on the validation metric."""
    trained = []

    def fake(table, config, data, entry, seed, eager):
        shared = entry["model"].get("num_shared_experts", 0)
        trained.append(json.dumps(entry["model"], sort_keys=True))
        result = {"validation": float(shared == 3), "params": 1, "epochs": 1, "train_rows": 9}
        return {**result, "metric": {t: 0.5 for t in ("income", "never_married", "education")}}

    monkeypatch.setattr(runner, "_train", fake)
    monkeypatch.setattr(runner, "_load", lambda *a: types.SimpleNamespace(description="stub"))
    markdown = runner.reproduce("adatt-census", seeds=1, out=tmp_path).read_text()
    assert '- AdaTT, 9 experts: `{"model": {"family": "adatt", "num_task_experts": 2' in markdown
    assert '"num_shared_experts": 3' in markdown.split("- AdaTT, 9 experts:")[1]
    assert len(trained) == 7 + 3  # every candidate once, then the untuned rows; tuned reused
    assert len(set(trained)) == len(trained)  # no model config trained twice


def test_list_names_every_table(capsys):
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in available_tables())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["reproduce", "ple-censu"], "NAME 'ple-censu' is not a table; choose one of: adatt-"),
        (["reproduce", "ple-census", "--seeds", "0"], "--seeds must be >= 1; got 0."),
        (["reproduce"], "give a table NAME; `tfmtl reproduce --list` lists them."),
    ],
)
def test_mistakes_are_one_line(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert err.startswith("tfmtl reproduce: error: ")
    assert not list(tmp_path.iterdir())  # nothing written
