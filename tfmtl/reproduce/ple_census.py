"""PLE Table 5: Census-Income (KDD), income and never married, the zoo's baselines beside PLE.

Every row trains on the run config's schedule with the registry's default hyper-parameters
(experts of (128, 64), towers of 64); MTL gain is PLE eq 11, a row's test AUC minus the
single-task model's mean over seeds.
"""

from __future__ import annotations

from tfmtl.reproduce.runner import Variant

TITLE = "PLE Table 5, Census-Income (KDD): income and never married test AUC, MTL gain (eq 11)"
CONFIG = "ple_census.yaml"
SEEDS = 5
TASKS = ("income", "never_married")
COLUMNS = (
    ("income", "income AUC"),
    ("income_gain", "income MTL gain"),
    ("never_married", "never_married AUC"),
    ("never_married_gain", "never_married MTL gain"),
)
SINGLE = "Single-Task"
# Table 5's Census-income Task1 (income) and Task2 (marital status), as printed
_PAPER = {
    SINGLE: ("0.9445", "-", "0.9923", "-"),
    "MMoE": ("0.9393", "+0.0048", "0.9928", "+0.0005"),
    "PLE": ("0.9522", "+0.0078", "0.9945", "+0.0022"),
}
_ROWS = (
    (SINGLE, "single_task"),
    ("Shared-Bottom", "shared_bottom"),
    ("OMoE", "omoe"),
    ("MMoE", "mmoe"),
    ("ML-MMoE", "ml_mmoe"),
    ("CGC", "cgc"),
    ("PLE", "ple"),
    ("Cross-Stitch", "cross_stitch"),
    ("Sluice", "sluice"),
    ("AdaTT", "adatt"),
)
VARIANTS = tuple(
    Variant(label, {"family": family}, dict(zip([k for k, _ in COLUMNS], _PAPER.get(label, ()))))
    for label, family in _ROWS
)
NOTES = (
    "MTL gain (PLE eq 11): a seed's test AUC minus the single-task rows' mean test AUC. Table 5 "
    "prints MMoE's income gain as +0.0048 although its AUC is below single-task's."
)


def derive(runs: dict) -> dict:
    """Label -> per seed, each task's MTL gain over the single-task rows' mean (PLE eq 11)."""
    from tfmtl.metrics import mtl_gain

    if SINGLE not in runs:
        return {}
    single = {t: sum(r["metric"][t] for r in runs[SINGLE]) / len(runs[SINGLE]) for t in TASKS}
    return {
        label: [
            {f"{t}_gain": mtl_gain(r["metric"][t], single[t]) for t in TASKS}
            if label != SINGLE
            else {}
            for r in results
        ]
        for label, results in runs.items()
    }
