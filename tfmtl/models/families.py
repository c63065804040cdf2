"""The registry's builders for the paper families (`tfmtl.models.registry`).

Each is `build_<family>_family(spec, tasks, ..., lookup=True, **hparams)` with every one of
the family's registered hyper-parameters (the registry fills in their defaults: they are
written there only), a switcher or backbone as a resolved switcher config
(`{"family": "mmoe", "num_experts": 8, ...}`), and task-dependent arguments defaulting from
`tasks` and `spec`. `lookup`: raw values looked up inside the model (TensorFlow), or ids
encoded outside it (`FeatureSpec.encode`; every backend). They call the papers' builders,
which keep their Python signatures.
"""

from __future__ import annotations

from tfmtl.tasks import check_tasks


def build_flat_family(spec, tasks, switcher: str = "mmoe", lookup: bool = True, **hparams):
    """Features -> switcher `switcher` with `hparams` -> one tower per task (`build_model`)."""
    from tfmtl.models.zoo import build_model

    return build_model(switcher, spec, tasks, lookup=lookup, **hparams)


def build_hmtl_family(spec, tasks, switcher: dict, lookup: bool = True, **hp):
    """H-MTL (MFH eq 4): one tree over `facet_order` (default: the tasks' facets, in order)."""
    from tfmtl.models.tree import build_hmtl

    return _tree(build_hmtl, spec, tasks, switcher, {**hp, "lookup": lookup})


def build_mfh_family(spec, tasks, switcher: dict, depth, lookup: bool = True, **hp):
    """MFH (MFH eq 5): nested trees over every facet ordering, codes expanded up to `depth`."""
    from tfmtl.models.tree import build_mfh

    return _tree(build_mfh, spec, tasks, switcher, {**hp, "lookup": lookup}, depth=depth)


def _tree(builder, spec, tasks, switcher: dict, hp: dict, **extra):
    """`builder` (build_hmtl or build_mfh) with the facet order from the tasks by default."""
    tasks = check_tasks(tasks)
    name, hparams = _split(switcher)
    options = {k: hp[k] for k in ("route_facets", "task_features", "tower_dropout", "lookup")}
    order = hp["facet_order"] or _facet_order(tasks)
    model = builder(
        spec, tasks, order, (name, hparams), hp["branch_units"], options=options, **extra
    )
    model.metadata["switcher"] = name
    return model


def build_dml_family(spec, tasks, backbone: dict, variant: str, lookup: bool = True, **hp):
    """Any switcher with DML's towers (CTFM eq 5, GKD eq 7), or the `variant` of `DML_VARIANTS`."""
    from tfmtl.models.dml import DML_VARIANTS, build_dml
    from tfmtl.models.flat import build_flat

    tasks = check_tasks(tasks)
    name, hparams = _split(backbone)
    switcher = _layer(backbone, len(tasks))
    if DML_VARIANTS[variant] is None:
        model = build_flat(
            spec, tasks, switcher, lookup=lookup, tower_dropout=hp["tower_dropout"], name=name
        )
    else:
        gkd = DML_VARIANTS[variant]["gkd"] and {
            "units": hp["gkd_units"],
            "gate_units": hp["gkd_gate_units"],
        }
        towers = {**DML_VARIANTS[variant], "gkd": gkd}
        model = build_dml(
            spec,
            tasks,
            switcher,
            towers,
            lookup=lookup,
            tower_dropout=hp["tower_dropout"],
            name=f"{name}_{variant}",
        )
    model.metadata.update({"model": name, "variant": variant, "hparams": hparams})
    return model


def build_dtrn_family(spec, tasks, backbone: dict, lookup: bool = True, **hp):
    """DTRN (CIKM'23 eq 10): `sequences` default to the spec's, `target` to their shared item."""
    from tfmtl.layers.dtrn import TIM_OPTIONS, DTRNBottom
    from tfmtl.models.dtrn import build_dtrn

    tasks = check_tasks(tasks)
    name, hparams = _split(backbone)
    bottom = DTRNBottom(
        spec,
        len(tasks),
        sequences=hp["sequences"],
        target=hp["target"],
        tim={"task_specific": hp["tim"], **{k: hp[k] for k in TIM_OPTIONS}},
        trm_units=hp["trm_units"] if hp["trm"] else 0,
        lookup=lookup,
        name="dtrn_bottom",
    )
    model = build_dtrn(
        spec,
        tasks,
        _layer(backbone, len(tasks)),
        bottom,
        lookup=lookup,
        tower_dropout=hp["tower_dropout"],
        name=f"dtrn_{name}",
    )
    model.metadata.update({"backbone": name, "hparams": hparams})
    return model


def build_esmm_family(spec, tasks, switcher: dict | None, lookup: bool = True, **hp):
    """ESMM (SIGIR'18 eq 2-3) on tasks `[ctr, cvr, ctcvr]`; a switcher, if any, feeds the towers."""
    from tfmtl.models.sequential import build_esmm

    weights = [hp[f"{task}_loss_weight"] for task in ("ctr", "cvr", "ctcvr")]
    layer, dropout = _layer(switcher, 2), hp["tower_dropout"]
    return build_esmm(spec, tasks, layer, weights, lookup=lookup, tower_dropout=dropout)


def build_aitm_family(spec, tasks, switcher: dict | None, steps, lookup: bool = True, **hp):
    """AITM (KDD'21 eq 2-7) over the funnel `steps` (task names, earliest first).

    `steps` default to the tasks trained over every impression (no `sample_space`), in
    order: on the funnel data's ctr, cvr, ctcvr that is click -> purchase, `["ctr", "ctcvr"]`.
    """
    from tfmtl.models.sequential import build_aitm

    funnel = _steps(check_tasks(tasks), steps)
    return build_aitm(
        spec,
        funnel,
        _layer(switcher, len(funnel)) or hp["bottom_units"],
        calibrator_weight=hp["calibrator_weight"],
        lookup=lookup,
        tower_dropout=hp["tower_dropout"],
    )


def _split(config: dict) -> tuple[str, dict]:
    hparams = dict(config)
    return hparams.pop("family"), hparams


def _layer(config: dict | None, num_outputs: int):
    if config is None:
        return None
    from tfmtl.models.zoo import make_switcher

    name, hparams = _split(config)
    return make_switcher(name, num_outputs, **hparams)


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
