"""AdaTT Table 5: Census-Income (KDD), 3 tasks, ML-MMoE vs PLE vs AdaTT with 2 fusion levels.

The paper's protocol (Li et al., KDD'23, §4.3): 2 levels of single-layer experts, 6 experts per
level of (128, 64) or 9 of (96, 48); PLE's and AdaTT's shared-expert count m_s tuned on the
validation split (mean validation AUC), task-specific experts per task = (total - m_s) / 3. A
`--quick` run takes the paper's choice: AdaTT-sp (m_s = 0, Table 5's caption), PLE m_s = 3.
`examples/adatt_census.py` runs the same protocol from these definitions.
"""

from __future__ import annotations

from tfmtl.reproduce.runner import Variant

TITLE = "AdaTT Table 5, Census-Income (KDD) 3 tasks: ML-MMoE, PLE, AdaTT, 6 and 9 experts"
CONFIG = "adatt_census.yaml"
SEEDS = 5
TASKS = ("income", "never_married", "education")
COLUMNS = tuple((t, f"{t} AUC") for t in TASKS)
# total experts per level -> (expert hidden sizes per level, m_s candidates for PLE, for AdaTT)
GROUPS = {6: ([[128], [64]], (3,), (0, 3)), 9: ([[96], [48]], (3, 6), (0, 3, 6))}
PAPER = {  # Table 5: test AUC of income, never married, education
    (6, "ml_mmoe"): (0.8729, 0.9178, 0.9731),
    (6, "ple"): (0.8683, 0.9164, 0.9697),
    (6, "adatt"): (0.8766, 0.9202, 0.9783),
    (9, "ml_mmoe"): (0.8688, 0.9139, 0.9730),
    (9, "ple"): (0.8645, 0.9134, 0.9680),
    (9, "adatt"): (0.8744, 0.9174, 0.9786),
}
LABELS = {"ml_mmoe": "ML-MMoE", "ple": "PLE", "adatt": "AdaTT"}
PAPER_SHARED = {"ml_mmoe": 0, "ple": 3, "adatt": 0}  # m_s without tuning


def hparams(model: str, total: int, shared: int) -> dict:
    """The hyper-parameters of `model` with `total` experts per level, `shared` of them shared."""
    units = GROUPS[total][0]
    if model == "ml_mmoe":
        return {"num_experts": total, "expert_units": units, "num_levels": 2}
    per_task = (total - shared) // len(TASKS)  # PLE and AdaTT: (total - m_s) / 3 experts per task
    return {
        "num_task_experts": per_task,
        "num_shared_experts": shared,
        "expert_units": units,
        "num_levels": 2,
    }


def candidates(model: str, total: int) -> tuple:
    """The m_s values `model` is tuned over with `total` experts per level."""
    _, ple, adatt = GROUPS[total]
    return {"ml_mmoe": (0,), "ple": ple, "adatt": adatt}[model]


def _variant(total: int, model: str) -> Variant:
    tune = candidates(model, total)
    return Variant(
        f"{LABELS[model]}, {total} experts",
        {"family": model, **hparams(model, total, PAPER_SHARED[model])},
        {t: f"{v:.4f}" for t, v in zip(TASKS, PAPER[(total, model)])},
        tune=tuple({"family": model, **hparams(model, total, s)} for s in tune)
        if len(tune) > 1
        else (),
    )


VARIANTS = tuple(_variant(total, model) for total in GROUPS for model in LABELS)
NOTES = (
    "m_s: the model configs below give each row's num_shared_experts (tuned on the validation "
    "split unless --quick). The paper reports the mean of 100 initialisations."
)
