"""benchmarks/embedding_tables.py: the `--quick` smoke runs print the table's true sizes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "embedding_tables.py"
DIM = 16  # the script's default embedding dimension
MB = 1024 * 1024
ROUNDING = 0.051  # the table prints MB to one decimal


def non_table_params() -> int:
    """Weights of the benchmark's model other than the `item` table, from a 16-row build.

    Built here with `registry.build` and summed over the model's weights, not through the
    script, so the script's `count_params` column is checked against a second computation.
    """
    import numpy as np

    import tfmtl
    from tfmtl.embedding_sharding import is_table
    from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec
    from tfmtl.models import registry

    spec = FeatureSpec(
        [CategoricalFeature("item", DIM, dtype="int64", vocabulary=tuple(range(15)))]
        + [DenseFeature(f"d{i}") for i in range(4)]
    )
    tasks = [tfmtl.Task("t1", tower_units=(64,)), tfmtl.Task("t2", tower_units=(64,))]
    config = {"family": "mmoe", "num_experts": 2, "expert_units": [64]}
    model = registry.build(config, spec, tasks, lookup=False)
    tables = [w for w in model.weights if is_table(w)]
    assert [tuple(w.shape) for w in tables] == [(16, DIM)]
    return int(sum(np.prod(w.shape) for w in model.weights if not is_table(w)))


def run_quick(mode: str) -> dict:
    """`--quick` in `mode`: the printed table as rows -> list of cells (one list per run)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--mode", mode, "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {}
    for line in done.stdout.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and cells[0].replace(",", "").isdigit():
            rows.setdefault(int(cells[0].replace(",", "")), []).append(cells)
    return rows


def _number(cell: str) -> float:
    return float(cell.split()[0].replace(",", ""))


def test_quick_tf_run_prints_each_size_with_its_table_in_the_parameter_count():
    rest = non_table_params()
    table = run_quick("tf")
    assert sorted(table) == [10_000, 100_000]
    for rows, runs in table.items():
        (cells,) = runs
        assert "failed" not in " ".join(cells), cells
        params = int(cells[3].replace(",", ""))
        assert params == rows * DIM + rest
        assert _number(cells[4]) == pytest.approx(rows * DIM * 4 / MB, abs=ROUNDING)  # table MB
        assert _number(cells[5]) == pytest.approx(2 * params * 4 / MB, abs=ROUNDING)  # Adam m, v
        assert _number(cells[8]) > 0 and _number(cells[9]) > 0  # step ms, samples/s


@pytest.mark.slow
def test_quick_jax_sharded_run_halves_the_table_per_device():
    table = run_quick("jax_sharded")
    for rows, (single, sharded) in table.items():
        assert (single[1], sharded[1]) == ("jax", "jax + jax_model_parallel")
        assert single[3] == sharded[3]  # same parameters
        assert _number(single[6]) == pytest.approx(rows * DIM * 4 / MB, abs=ROUNDING)
        assert _number(sharded[6]) == pytest.approx(rows * DIM * 4 / MB / 2, abs=ROUNDING)
