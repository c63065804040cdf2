"""Census through the front door: `tfmtl init` on the raw UCI files against the hand-written spec.

The inferred run is what a new user gets: `tfmtl init` on census-income.data.gz (no header,
", " separators, text labels) with the test file halved into validation and test by seed
2026 (the built-in loader's published protocol), then `tfmtl train` on that config with no
edits. The hand-written run is `examples/configs/census.yaml` (the built-in `census` dataset,
`tfmtl/data/census.py`'s feature settings). Both train with census.yaml's schedule; test AUC
per seed and the mean difference.

    TFMTL_DATA_DIR=../shared/data python benchmarks/census_front_door.py --seeds 2 --model ple
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TASKS = [
    "income:label=income:positive=50000+.",
    "never_married:label=marital_status:positive=Never married",
]


def tfmtl(*argv: str) -> None:
    subprocess.run([sys.executable, "-m", "tfmtl.cli", *argv], check=True, stdout=sys.stderr)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--model", default="ple")
    p.add_argument(
        "--workdir",
        default=None,
        help="keep the configs and runs here (default: a temporary folder)",
    )
    return p.parse_args()


def infer_config(work: Path, model: str) -> Path:
    """Runs `tfmtl init` on the raw UCI files into `work/inferred.yaml` (kept if already there)."""
    from tfmtl.data.census import COLUMNS
    from tfmtl.data.paths import data_dir

    folder = data_dir() / "census-income"
    (work / "names.txt").write_text("\n".join(COLUMNS) + "\n")
    inferred = work / "inferred.yaml"
    if not inferred.exists():
        tfmtl(
            "init",
            "--data",
            str(folder / "census-income.data.gz"),
            "--test",
            str(folder / "census-income.test.gz"),
            "--validation",
            "0.5",
            "--seed",
            "2026",
            "--column-names",
            f"@{work / 'names.txt'}",
            *[a for t in TASKS for a in ("--task", t)],
            "--drop",
            "instance_weight",
            "--model",
            model,
            "--output",
            str(inferred),
        )
    return inferred


def train_seeds(work: Path, inferred: Path, model: str, seeds: int) -> list[dict]:
    """Test metrics of both configs per seed: `[{"inferred": ..., "hand-written": ...}]`."""
    hand = ROOT / "examples" / "configs" / "census.yaml"
    schedule = yaml.safe_load(hand.read_text())["training"]
    rows = []
    for seed in range(seeds):
        result = {}
        for label, config in (("inferred", inferred), ("hand-written", hand)):
            out = work / f"{label}-{seed}"
            if not out.exists():
                tfmtl(
                    "train",
                    "--config",
                    str(config),
                    "--output",
                    str(out),
                    "--set",
                    f"model.family={model}",
                    "--set",
                    f"training={json.dumps({**schedule, 'seed': seed})}",
                )
            result[label] = json.loads((out / "metrics.json").read_text())["test"]
        rows.append(result)
    return rows


def render(rows: list[dict], model: str, work: Path) -> str:
    """The per-seed AUC table, the mean gap per task, and how it was run."""
    tasks = list(rows[0]["inferred"])
    lines = [
        f"| seed | {' | '.join(f'{t} inferred | {t} hand-written' for t in tasks)} |",
        "|---|" + "---|" * (2 * len(tasks)),
    ]
    for seed, r in enumerate(rows):
        cells = [
            f"{r['inferred'][t]['auc']:.4f} | {r['hand-written'][t]['auc']:.4f}" for t in tasks
        ]
        lines.append(f"| {seed} | {' | '.join(cells)} |")
    gaps = {
        t: sum(r["inferred"][t]["auc"] - r["hand-written"][t]["auc"] for r in rows) / len(rows)
        for t in tasks
    }
    lines.append("")
    lines.append(
        "Mean inferred - hand-written test AUC: "
        + ", ".join(f"{t} {g:+.4f}" for t, g in gaps.items())
    )
    command = " ".join(["python", "benchmarks/census_front_door.py", *sys.argv[1:]])
    lines.append(f"(model {model}; `{command}`, {os.cpu_count()} cores; runs in {work})")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="census-front-door-"))
    work.mkdir(parents=True, exist_ok=True)
    inferred = infer_config(work, args.model)
    rows = train_seeds(work, inferred, args.model, args.seeds)
    print(render(rows, args.model, work))


if __name__ == "__main__":
    main()
