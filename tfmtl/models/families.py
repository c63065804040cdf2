"""Builders of the registry's families from resolved model configs (`tfmtl.models.registry`).

Each takes `(config, spec, tasks, return_gates)` and calls the family's own builder, so the
papers' builders keep their Python signatures and the registry stays free of Keras.
"""

from __future__ import annotations

from tfmtl.models.registry import split_switcher


def build_tree(config: dict, spec, tasks, return_gates: bool = False):
    """H-MTL (MFH eq 4) or MFH (MFH eq 5) over the tasks' facets; facet order from the tasks by default."""
    from tfmtl.models.tree import build_hmtl, build_mfh

    switcher, hparams = split_switcher(config["switcher"])
    args = dict(switcher=switcher, switcher_hparams=hparams, branch_units=config["branch_units"],
                route_facets=config["route_facets"], tower_dropout=config["tower_dropout"])
    order = config["facet_order"] or _facet_order(tasks)
    if config["family"] == "mfh":
        return build_mfh(spec, tasks, order, depth=config["depth"], **args)
    return build_hmtl(spec, tasks, order, **args)


def build_dml_family(config: dict, spec, tasks, return_gates: bool = False):
    """Any switcher with DML's towers (CTFM eq 5 + GKD eq 7), or a `variant` of them."""
    from tfmtl.models.dml import build_dml_model

    backbone, hparams = split_switcher(config["backbone"])
    model = build_dml_model(backbone, spec, tasks, variant=config["variant"], return_gates=return_gates, **hparams)
    return model


def build_dtrn_family(config: dict, spec, tasks, return_gates: bool = False):
    """DTRN (CIKM'23 eq 10): TIM + TRM task-specific bottoms feeding any backbone switcher."""
    from tfmtl.models.dtrn import build_dtrn

    backbone, hparams = split_switcher(config["backbone"])
    own = {k: config[k] for k in ("tim", "trm", "num_heads", "hyper_units", "trm_units", "injection", "tower_dropout")}
    return build_dtrn(spec, tasks, backbone, **own, **hparams)


def build_esmm_family(config: dict, spec, tasks, return_gates: bool = False):
    """ESMM (SIGIR'18): tasks ctr, cvr, ctcvr with pCTCVR = pCTR x pCVR."""
    from tfmtl.models.sequential import build_esmm

    weights = {k: config[k] for k in ("ctr_loss_weight", "cvr_loss_weight", "ctcvr_loss_weight", "tower_dropout")}
    return build_esmm(spec, tasks, switcher=_switcher(config["switcher"], 2), **weights)


def build_aitm_family(config: dict, spec, tasks, return_gates: bool = False):
    """AITM (KDD'21): funnel steps in order, each attending to the step before."""
    from tfmtl.models.sequential import build_aitm

    own = {k: config[k] for k in ("bottom_units", "calibrator_weight", "tower_dropout")}
    return build_aitm(spec, tasks, switcher=_switcher(config["switcher"], len(list(tasks))), **own)


def _switcher(config, num_outputs: int):
    if config is None:
        return None
    from tfmtl.models.zoo import make_switcher

    name, hparams = split_switcher(config)
    return make_switcher(name, num_outputs, **hparams)


def _facet_order(tasks) -> list:
    order = []
    for task in tasks:
        for facet in task.facets:
            if facet not in order:
                order.append(facet)
    if not order:
        raise ValueError("H-MTL and MFH route over the tasks' facets, and no task has any: give the tasks "
                         "`facets` (e.g. {behaviour: click, group: new}) or use a flat family.")
    return order
