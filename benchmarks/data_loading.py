"""Loading cost of every file-backed dataset: seconds and peak resident memory of the process.

Each case runs in a fresh Python process (so peak RSS is that load's, TensorFlow's import
included) and is timed from after the imports to a `MultiTaskData` with every split built:

- `census`: the published protocol (census-income.data.gz + census-income.test.gz);
- `census-test-only`: the test file alone (a data root that links only it);
- `movielens100k`, `movielens1m` (the ratings file the loader picks, named in the table);
- `csv-1m`: `load_csv` on a generated 1,000,000-row CSV (6 dense, 4 text and 2 integer
  categorical columns, 2 labels; written once to a temporary folder).

    TFMTL_DATA_DIR=../shared/data python benchmarks/data_loading.py --repeats 3
    python benchmarks/data_loading.py --tree /path/to/older/checkout   # the same cases, older code

Floors (the full-size data issue): census <= 8 s and <= 1.5 GB; movielens1m and csv-1m <= 10 s
and <= 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

FLOORS = {"census": (8, 1.5), "movielens1m": (10, 2.0), "csv-1m": (10, 2.0)}
CSV_ROWS = 1_000_000

CHILD = r"""
import json, resource, sys, time
import tfmtl
from tfmtl import Task
from tfmtl.data import load_census, load_csv, load_movielens
from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec
case, arg = sys.argv[1], sys.argv[2]
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
before = peak()
start = time.perf_counter()
if case == "census":
    data = load_census()
elif case == "census-test-only":
    data = load_census(arg)
elif case == "movielens100k":
    data = load_movielens(variant="100k")
elif case == "movielens1m":
    data = load_movielens(variant="1m")
elif case == "csv-1m":
    spec = FeatureSpec([DenseFeature(f"d{i}") for i in range(6)]
                       + [CategoricalFeature(f"c{i}") for i in range(4)]
                       + [CategoricalFeature(f"k{i}", dtype="int64") for i in range(2)])
    data = load_csv(arg, spec, [Task("click", label="click"), Task("buy", label="buy")])
seconds = time.perf_counter() - start
rows = sum(len(s) for s in data.splits.values())
print(json.dumps({"seconds": seconds, "peak_gib": peak(), "import_gib": before,
                  "rows": rows, "description": data.description}))
"""


def write_csv(path: Path, rows: int = CSV_ROWS, seed: int = 0) -> None:
    """A 1M-row CSV with a header, written in chunks (text and ints from small vocabularies)."""
    rng = np.random.default_rng(seed)
    cities = np.asarray([f"city_{i:04d}" for i in range(1000)])
    with open(path, "w") as f:
        f.write(
            ",".join(
                [f"d{i}" for i in range(6)]
                + [f"c{i}" for i in range(4)]
                + ["k0", "k1", "click", "buy"]
            )
            + "\n"
        )
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            cols = [np.char.mod("%.4f", rng.normal(size=n)) for _ in range(6)]
            cols += [cities[rng.integers(0, 1000 // (i + 1), n)] for i in range(4)]
            cols += [rng.integers(0, 500, n).astype(str), rng.integers(0, 20, n).astype(str)]
            cols += [rng.integers(0, 2, n).astype(str), rng.integers(0, 2, n).astype(str)]
            f.write("\n".join(",".join(r) for r in zip(*cols)) + "\n")


def run_case(case: str, arg: str, tree: str | None) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if tree:
        env["PYTHONPATH"] = str(Path(tree).resolve())
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, case, arg],
        env=env,
        capture_output=True,
        text=True,
        cwd=tree or None,
    )
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        return {"error": last[:160]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--cases", default="census,census-test-only,movielens100k,movielens1m,csv-1m")
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs per case; the table shows the fastest and the peak",
    )
    p.add_argument(
        "--tree", default=None, help="import tfmtl from this checkout instead (a before/after run)"
    )
    args = p.parse_args()
    from tfmtl.data.paths import data_dir

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "census-income").mkdir()
        (tmp / "census-income" / "census-income.test.gz").symlink_to(
            data_dir() / "census-income" / "census-income.test.gz"
        )
        cases = [c for c in args.cases.split(",") if c]
        if "csv-1m" in cases:
            write_csv(tmp / "shop.csv")
        extra = {"census-test-only": str(tmp), "csv-1m": str(tmp / "shop.csv")}
        lines = [
            f"Loading, {'tree ' + args.tree if args.tree else 'this tree'} on "
            f"{platform.machine()}, {os.cpu_count()} cores; fastest of {args.repeats} fresh "
            "processes; peak RSS of the process (TensorFlow's import included).",
            "",
            "| case | rows | seconds | peak RSS GiB | import alone GiB | floor | source |",
            "|---|---|---|---|---|---|---|",
        ]
        for case in cases:
            runs = [run_case(case, extra.get(case, ""), args.tree) for _ in range(args.repeats)]
            ok = [r for r in runs if "error" not in r]
            floor = FLOORS.get(case)
            floor_text = f"<= {floor[0]} s, <= {floor[1]} GB" if floor else ""
            if not ok:
                lines.append(f"| {case} | - | failed | - | - | {floor_text} | {runs[0]['error']} |")
                continue
            seconds = min(r["seconds"] for r in ok)
            peak = max(r["peak_gib"] for r in ok)
            met = (
                ""
                if not floor
                else (
                    " (met)"
                    if seconds <= floor[0] and peak * 2**30 / 1e9 <= floor[1]
                    else " (missed)"
                )
            )
            lines.append(
                f"| {case} | {ok[0]['rows']:,} | {seconds:.2f} | {peak:.2f} | "
                f"{ok[0]['import_gib']:.2f} | {floor_text}{met} | {ok[0]['description'][:90]} |"
            )
            print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
