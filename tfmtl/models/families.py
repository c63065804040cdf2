"""The registry's builders for the paper families (`tfmtl.models.registry`).

Each is `build_<family>_family(spec, tasks, return_gates=False, **hparams)` with the family's
registered hyper-parameters as keywords, a switcher or backbone as a resolved switcher config
(`{"family": "mmoe", "num_experts": 8, ...}`), and task-dependent arguments defaulting from
`tasks` and `spec`. They call the papers' builders, which keep their Python signatures.
"""

from __future__ import annotations

from tfmtl.tasks import check_tasks


def build_flat_family(spec, tasks, switcher: str = "mmoe", return_gates: bool = False, **hparams):
    """Features -> switcher `switcher` with `hparams` -> one tower per task (`build_model`)."""
    from tfmtl.models.zoo import build_model

    return build_model(switcher, spec, tasks, return_gates=return_gates, **hparams)


def build_hmtl_family(
    spec,
    tasks,
    switcher: dict,
    facet_order=None,
    branch_units=(64,),
    route_facets=None,
    task_features=None,
    tower_dropout: float = 0.0,
    return_gates: bool = False,
):
    """H-MTL (MFH eq 4): one tree over `facet_order` (default: the tasks' facets, in order)."""
    from tfmtl.models.tree import build_hmtl

    return _tree(
        build_hmtl,
        spec,
        tasks,
        switcher,
        facet_order,
        branch_units,
        route_facets,
        task_features,
        return_gates,
        tower_dropout=tower_dropout,
    )


def build_mfh_family(
    spec,
    tasks,
    switcher: dict,
    facet_order=None,
    branch_units=(64,),
    route_facets=None,
    task_features=None,
    tower_dropout: float = 0.0,
    depth=None,
    return_gates: bool = False,
):
    """MFH (MFH eq 5): nested trees over every facet ordering, codes expanded up to `depth`."""
    from tfmtl.models.tree import build_mfh

    return _tree(
        build_mfh,
        spec,
        tasks,
        switcher,
        facet_order,
        branch_units,
        route_facets,
        task_features,
        return_gates,
        tower_dropout=tower_dropout,
        depth=depth,
    )


def _tree(
    builder,
    spec,
    tasks,
    switcher,
    facet_order,
    branch_units,
    route_facets,
    task_features,
    return_gates,
    **extra,
):
    """`builder` (build_hmtl or build_mfh) with the facet order from the tasks by default."""
    tasks = check_tasks(tasks)
    name, hparams = _split(switcher)
    model = builder(
        spec,
        tasks,
        facet_order or _facet_order(tasks),
        _tree_switcher(name, hparams, return_gates),
        hparams,
        branch_units,
        route_facets,
        task_features,
        **extra,
    )
    model.metadata["switcher"] = name
    return model


def build_dml_family(
    spec,
    tasks,
    backbone: dict,
    variant: str = "dml",
    gkd_units=(80,),
    gkd_gate_units=(),
    tower_dropout: float = 0.0,
    return_gates: bool = False,
):
    """Any switcher with DML's towers (CTFM eq 5, GKD eq 7), or the `variant` of `DML_VARIANTS`."""
    from tfmtl.models.dml import DML_VARIANTS, build_dml
    from tfmtl.models.flat import build_flat

    tasks = check_tasks(tasks)
    name, hparams = _split(backbone)
    switcher = _layer(backbone, len(tasks), return_gates)
    metadata = {"model": name, "variant": variant, "hparams": hparams}
    if DML_VARIANTS[variant] is None:
        return build_flat(
            spec, tasks, switcher, tower_dropout=tower_dropout, name=name, metadata=metadata
        )
    return build_dml(
        spec,
        tasks,
        switcher,
        **DML_VARIANTS[variant],
        tower_dropout=tower_dropout,
        gkd_units=gkd_units,
        gkd_gate_units=gkd_gate_units,
        name=f"{name}_{variant}",
        metadata=metadata,
    )


def build_dtrn_family(
    spec,
    tasks,
    backbone: dict,
    tim: bool = True,
    trm: bool = True,
    sequences=None,
    target=None,
    num_heads: int = 2,
    ffn_units=None,
    hyper_units: int = 32,
    type_dim=None,
    injection="ln",
    trm_units: int = 64,
    tower_dropout: float = 0.0,
    return_gates: bool = False,
):
    """DTRN (CIKM'23 eq 10): `sequences` default to the spec's, `target` to their shared item."""
    from tfmtl.models.dtrn import build_dtrn

    tasks = check_tasks(tasks)
    name, hparams = _split(backbone)
    return build_dtrn(
        spec,
        tasks,
        _layer(backbone, len(tasks), return_gates),
        tim=tim,
        trm=trm,
        sequences=sequences,
        target=target,
        num_heads=num_heads,
        ffn_units=ffn_units,
        hyper_units=hyper_units,
        type_dim=type_dim,
        injection=injection,
        trm_units=trm_units,
        tower_dropout=tower_dropout,
        name=f"dtrn_{name}",
        metadata={"backbone": name, "hparams": hparams},
    )


def build_esmm_family(
    spec,
    tasks,
    switcher: dict | None = None,
    ctr_loss_weight: float = 1.0,
    cvr_loss_weight: float = 0.0,
    ctcvr_loss_weight: float = 1.0,
    tower_dropout: float = 0.0,
    return_gates: bool = False,
):
    """ESMM (SIGIR'18 eq 2-3) on tasks `[ctr, cvr, ctcvr]`; a switcher, if any, feeds the towers."""
    from tfmtl.models.sequential import build_esmm

    return build_esmm(
        spec,
        tasks,
        switcher=_layer(switcher, 2, return_gates),
        ctr_loss_weight=ctr_loss_weight,
        cvr_loss_weight=cvr_loss_weight,
        ctcvr_loss_weight=ctcvr_loss_weight,
        tower_dropout=tower_dropout,
    )


def build_aitm_family(
    spec,
    tasks,
    switcher: dict | None = None,
    steps=None,
    bottom_units=(128, 64, 32),
    calibrator_weight: float = 0.6,
    tower_dropout: float = 0.0,
    return_gates: bool = False,
):
    """AITM (KDD'21 eq 2-7) over the funnel `steps` (task names, earliest first).

    `steps` default to the tasks trained over every impression (no `sample_space`), in
    order: on the funnel data's ctr, cvr, ctcvr that is click -> purchase, `["ctr", "ctcvr"]`.
    """
    from tfmtl.models.sequential import build_aitm

    funnel = _steps(check_tasks(tasks), steps)
    return build_aitm(
        spec,
        funnel,
        switcher=_layer(switcher, len(funnel), return_gates),
        bottom_units=bottom_units,
        calibrator_weight=calibrator_weight,
        tower_dropout=tower_dropout,
    )


def _split(config: dict) -> tuple[str, dict]:
    hparams = dict(config)
    return hparams.pop("family"), hparams


def _layer(config: dict | None, num_outputs: int, return_gates: bool):
    if config is None:
        return None
    from tfmtl.models.zoo import make_switcher

    name, hparams = _split(config)
    return make_switcher(name, num_outputs, return_gates=return_gates, **hparams)


def _tree_switcher(name: str, hparams: dict, return_gates: bool):
    """The tree builders' switcher argument: the zoo name, or a maker when the gates are wanted."""
    if not return_gates:
        return name
    from tfmtl.models.zoo import make_switcher

    return lambda node, num_outputs: make_switcher(name, num_outputs, return_gates=True, **hparams)


def _facet_order(tasks) -> list:
    order = list(dict.fromkeys(facet for task in tasks for facet in task.facets))
    if not order:
        raise ValueError(
            "H-MTL and MFH route over the tasks' facets, and no task has any: give the tasks "
            "`facets` (e.g. {behaviour: click, group: new}) or use a flat family."
        )
    return order


def _steps(tasks, steps) -> list:
    by_name = {t.name: t for t in tasks}
    if steps is None:
        funnel = [t for t in tasks if t.sample_space is None]
        if len(funnel) < 2:
            raise ValueError(
                "model.steps: AITM needs >= 2 tasks trained over every impression (no "
                "sample_space); give the funnel's task names, earliest first. Tasks: "
                f"{', '.join(by_name)}."
            )
        return funnel
    unknown = [s for s in steps if s not in by_name]
    if unknown:
        raise ValueError(f"model.steps: no task {unknown[0]!r}; choose from: {', '.join(by_name)}.")
    return [by_name[s] for s in steps]
