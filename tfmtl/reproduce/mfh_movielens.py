"""MFH Table 6: MovieLens by user activity group, {MMoE, PLE} x {flat 2-task, flat 6-task,
H-MTL, MFH}.

The flat 2-task model serves every group with the same two heads; the 6-task models (flat,
H-MTL over behaviour -> group, MFH over both facets) have one head per (behaviour, group) and
each test row is scored by its own group's heads (MFH §5.1.4), through
`tfmtl.facets.evaluate_by_group` as in `examples/mfh_movielens.py`, whose switcher sizes these
are.
"""

from __future__ import annotations

from tfmtl.data.movielens_groups import GROUPS
from tfmtl.reproduce.runner import Variant

TITLE = "MFH Table 6, MovieLens-1M by activity group: flat 2/6-task, H-MTL, MFH on MMoE and PLE"
CONFIG = "mfh_movielens.yaml"
SEEDS = 5
COLUMNS = tuple(
    (f"{g}_{task}", f"{g} {header}")
    for g in GROUPS
    for task, header in (("ctr", "ctr AUC"), ("rating", "rate MSE"))
)
FLAT = {  # the flat models' one switcher
    "mmoe": {"family": "mmoe", "num_experts": 4, "expert_units": [32]},
    "ple": {
        "family": "ple",
        "num_task_experts": 1,
        "num_shared_experts": 2,
        "expert_units": [[64], [32]],
        "num_levels": 2,
    },
}
TREE = {  # one switcher per tree node: smaller than the flat model's single one
    "mmoe": {"family": "mmoe", "num_experts": 3, "expert_units": [32]},
    "ple": {
        "family": "ple",
        "num_task_experts": 1,
        "num_shared_experts": 1,
        "expert_units": [[32], [32]],
        "num_levels": 2,
    },
}
SWITCHERS = {"mmoe": "MMoE", "ple": "PLE"}
MACROS = {"flat2": "Flat (2-task)", "flat6": "Flat (6-task)", "hmtl": "H-MTL", "mfh": "MFH"}
PAPER = {  # Table 6 (MovieLens-20M): new, low, high x (ctr AUC, rate MSE), as printed
    ("mmoe", "flat2"): ".7035 .9670 .7194 .9145 .7373 .8082",
    ("mmoe", "flat6"): ".7044 .9627 .7194 .9113 .7370 .8040",
    ("mmoe", "hmtl"): ".7050 .9537 .7205 .9018 .7415 .8068",
    ("mmoe", "mfh"): ".7072 .9517 .7232 .8988 .7422 .7960",
    ("ple", "flat2"): ".7049 .9604 .7209 .9116 .7390 .7957",
    ("ple", "flat6"): ".7065 .9581 .7213 .9102 .7412 .7958",
    ("ple", "hmtl"): ".7091 .9576 .7245 .9047 .7440 .7925",
    ("ple", "mfh"): ".7098 .9476 .7260 .8926 .7468 .7898",
}


def _model(switcher: str, macro: str) -> dict:
    if macro.startswith("flat"):
        return {"family": macro, "switcher": FLAT[switcher]}
    tree = {"facet_order": ["behaviour", "group"], "branch_units": [32], "route_facets": "group"}
    return {"family": macro, "switcher": TREE[switcher], **tree}


VARIANTS = tuple(
    Variant(
        f"{SWITCHERS[switcher]} {label}",
        _model(switcher, macro),
        dict(zip([k for k, _ in COLUMNS], PAPER[(switcher, macro)].split())),
    )
    for switcher in FLAT
    for macro, label in MACROS.items()
)
NOTES = (
    "The paper's Table 6 is on MovieLens-20M with the same activity groups; ours on "
    "MovieLens-1M, whose users all have at least 20 ratings."
)


def view(data, model: dict):
    """The flat 2-task model's view: the base tasks ctr and rating on every row."""
    from tfmtl.data.movielens_groups import BASE_TASKS, with_tasks

    return with_tasks(data, BASE_TASKS) if model["family"] == "flat2" else data


def build(model: dict, spec, tasks, lookup: bool = True):
    """The flat baselines by `build_flat_facets`; H-MTL and MFH from the registry."""
    from tfmtl.models import registry
    from tfmtl.models.flat_facets import build_flat_facets

    if not model["family"].startswith("flat"):
        return registry.build(model, spec, tasks, lookup=lookup)
    hparams = dict(model["switcher"])
    switcher = (hparams.pop("family"), hparams)
    if model["family"] == "flat2":
        return build_flat_facets(spec, tasks, switcher, groups=GROUPS, lookup=lookup)
    return build_flat_facets(spec, tasks, switcher, route_facets="group", lookup=lookup)


def score(model, view, data) -> dict:
    """Each group's ctr AUC and rating MSE, every test row scored by its own group's heads."""
    from tfmtl.data.movielens_groups import BASE_TASKS, base_labels, row_groups
    from tfmtl.facets import evaluate_by_group
    from tfmtl.training import predict

    test = data["test"]
    report = evaluate_by_group(
        list(BASE_TASKS),
        predict(model, view, "test"),
        base_labels(test),
        row_groups(test),
        model.metadata["facet_groups"],
    )
    return {
        f"{g}_{task}": float(report[g][task]["auc" if task == "ctr" else "mse"])
        for g in report
        for task in ("ctr", "rating")
    }
