"""benchmarks/zoo_table.py: a --quick run of two tiny registry configs, its table, its resume."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import zoo_table  # noqa: E402 - the benchmark script, imported as a module

MMOE = json.dumps({"family": "mmoe", "num_experts": 2, "expert_units": [8]})
PLE = "{family: ple, num_task_experts: 1, num_shared_experts: 1, expert_units: [[8], [8]]}"
DEMO = "{dataset: demo, rows: 2000}"  # click, finish (binary: AUC), watch_time (regression: MSE)


def _rows(markdown: str) -> dict:
    """Table rows by model label -> their cells."""
    rows = {}
    for line in markdown.splitlines():
        match = re.match(r"\| `(.+)` \| (.*) \|$", line)
        if match:
            rows[match.group(1)] = [c.strip() for c in match.group(2).split("|")]
    return rows


def _mean(cell: str) -> float:
    return float(cell.split("±")[0].replace(",", "").split()[0])


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One --quick run over both configs; its output folder and its arguments."""
    out = tmp_path_factory.mktemp("zoo")
    argv = ["--quick", "--models", MMOE, PLE, "--datasets", DEMO, "--seeds", "2"]
    assert zoo_table.main([*argv, "--out", str(out)]) == 0
    return out, argv


def test_table_has_a_row_per_model_with_finite_numbers(quick):
    out, _ = quick
    markdown = (out / "demo.md").read_text()
    rows = _rows(markdown)
    assert set(rows) == {MMOE, json.dumps(yaml.safe_load(PLE))}
    header = next(line for line in markdown.splitlines() if line.startswith("| model"))
    assert "| click AUC | finish AUC | watch_time MSE | params |" in header
    for cells in rows.values():
        *metrics, params, speed, epochs, seeds = cells
        assert len(metrics) == 3 and all(math.isfinite(_mean(c)) for c in (*metrics, speed))
        assert all(0.0 <= _mean(c) <= 1.0 for c in metrics[:2])  # AUCs
        assert int(params.replace(",", "")) > 0 and epochs == "1/1" and seeds == "2"
    # how it was run, where, when
    assert "python benchmarks/zoo_table.py --quick --models" in markdown
    assert "cores" in markdown and re.search(r"\d{4}-\d\d-\d\d", markdown)


def test_the_resolved_config_keys_each_run(quick):
    out, _ = quick
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert len(runs) == 4  # 2 configs x 2 seeds
    assert {r["config"]["family"] for r in runs} == {"mmoe", "ple"}
    assert runs[0]["config"]["num_experts"] == 2 and runs[0]["schedule"]["epochs"] == 1
    assert {r["seed"] for r in runs} == {0, 1}
    assert all(r["train_rows"] == zoo_table.QUICK["rows"] for r in runs)
    assert runs[0]["metric"] != runs[1]["metric"]  # seeds 0 and 1 of mmoe: different runs


def test_rerun_skips_finished_runs(quick, capsys, monkeypatch):
    out, argv = quick
    before = (out / "runs.jsonl").read_text()

    def refuse(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(zoo_table, "run_one", refuse)
    monkeypatch.setattr(zoo_table, "load", refuse)  # nothing to train: the data is not read
    capsys.readouterr()
    assert zoo_table.main([*argv, "--out", str(out)]) == 0
    assert capsys.readouterr().out.count("on file, skipped") == 4
    assert (out / "runs.jsonl").read_text() == before
    assert len(_rows((out / "demo.md").read_text())) == 2


def test_a_changed_schedule_or_config_is_a_new_key():
    sched = zoo_table.schedule(zoo_table.parse_args(["--quick"]))
    _, config = zoo_table.model_config(MMOE)
    data = zoo_table.data_section("census")
    key = zoo_table.run_key(data, config, 0, sched)
    assert key != zoo_table.run_key(data, config, 0, {**sched, "epochs": 2})
    assert key != zoo_table.run_key(data, {**config, "num_experts": 3}, 0, sched)
    assert key == zoo_table.run_key(data, json.loads(json.dumps(config)), 0, dict(sched))
    # a bare name and its resolved config are the same model
    assert zoo_table.model_config("mmoe")[1] == zoo_table.model_config('{"family": "mmoe"}')[1]
    assert data == {"dataset": "census"}


def test_bad_arguments_say_what_is_wrong(capsys):
    with pytest.raises(ValueError, match="mmoe has no hyper-parameter 'heads'"):
        zoo_table.model_config('{"family": "mmoe", "heads": 2}')
    with pytest.raises(SystemExit):
        zoo_table.parse_args(["--rows", "0"])
    assert "--rows must be >= 1" in capsys.readouterr().err


def test_census_config_loads_as_tfmtl_train_does():
    """The run config file's `data:` section is used as is."""
    section = zoo_table.data_section("examples/configs/census.yaml")
    assert section["dataset"] == "census"


@pytest.mark.slow  # ~45 s on 2 shared cores: Census' 40 columns trace slowly
def test_census_quick_gives_a_finite_auc_per_task(tmp_path):
    """The binary path on the published Census split, read as `tfmtl train` reads it."""
    from tfmtl.data.paths import data_dir

    if not (data_dir() / "census-income" / "census-income.test.gz").is_file():
        pytest.skip("Census-Income is not in TFMTL_DATA_DIR")
    argv = ["--quick", "--models", MMOE, PLE, "--datasets", "census", "--seeds", "1"]
    assert zoo_table.main([*argv, "--out", str(tmp_path)]) == 0
    markdown = (tmp_path / "census.md").read_text()
    assert "income AUC" in markdown and "never_married AUC" in markdown
    assert "Census-Income (KDD)" in markdown
    rows = _rows(markdown)
    assert len(rows) == 2
    for cells in rows.values():
        assert all(0.0 <= _mean(c) <= 1.0 for c in cells[:2])
