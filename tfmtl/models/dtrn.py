"""DTRN: task-specific bottoms (TIM + TRM) feeding any backbone switcher, then towers."""

from __future__ import annotations

from tfmtl.features import FeatureSpec
from tfmtl.layers.dtrn import DTRNBottom
from tfmtl.layers.switcher import Switcher
from tfmtl.layers.towers import Tower
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.tasks import check_tasks


def build_dtrn(
    spec: FeatureSpec,
    tasks,
    switcher,
    tim: bool = True,
    trm: bool = True,
    sequences=None,
    target: str | None = None,
    num_heads: int = 2,
    ffn_units: int | None = None,
    hyper_units: int = 32,
    type_dim: int | None = None,
    injection="ln",
    trm_units: int = 64,
    lookup: bool = True,
    tower_dropout: float = 0.0,
    name: str | None = None,
    metadata: dict | None = None,
    **switcher_hparams,
) -> MultiTaskModel:
    """Build DTRN (CIKM'23 eq 10): `[o_1..o_T] = MTL_model(r_1, ..., r_T)` around any switcher.

    `DTRNBottom` gives the task-specific bottoms `r_i` (TIM + TRM); they enter the switcher
    as its list of views (output k reads view k), and task k's `Tower` reads output k. With
    `tim=False, trm=False` it is the plain backbone over the same inputs (a task-shared
    interest concatenated to the sparse embeddings), the baseline of the paper's ablation.

    Inputs: one per raw feature; a behaviour sequence is a `[None, max_len]` tensor of item
    ids, oldest first, right-padded with the feature's `padding` value (positions holding
    `padding` are masked out, so no separate length input is needed).

    Args:
        spec: an adapted `FeatureSpec` with one or more `SequenceFeature`s.
        tasks: list of `Task`.
        switcher: a `Switcher` with `num_outputs == len(tasks)`, or a zoo name ("mmoe",
            "ple", "shared_bottom", ...) built with `switcher_hparams`.
        tim, trm: bool. Use TIM's task-specific interests / TRM's refinement (see DTRNBottom).
        sequences: list of str. Behaviour sequences; defaults to every sequence feature.
        target: str. Target item feature; defaults to the feature the sequences share with.
        num_heads, ffn_units, hyper_units, type_dim, injection: TIM's (see `TIM`).
        trm_units: int. TRM hidden width.
        lookup: bool. Raw values looked up in the model (exportable) or pre-encoded ids.
        tower_dropout: float. Dropout in every tower.

    Example:

    >>> model = build_dtrn(data.spec, data.tasks, "mmoe", num_experts=4, expert_units=[32])
    >>> sorted(model.output_names)
    ['ctr', 'rating']
    """
    from tfmtl.models.zoo import default_hparams, make_switcher

    tasks = check_tasks(tasks)
    backbone = switcher if isinstance(switcher, str) else type(switcher).__name__
    if isinstance(switcher, str):
        hparams = {**default_hparams(switcher), **switcher_hparams}
        switcher = make_switcher(switcher, len(tasks), **switcher_hparams)
    else:
        if switcher_hparams:
            raise ValueError(
                f"Switcher hyper-parameters {sorted(switcher_hparams)} are only taken with a zoo name; "
                f"got a built {type(switcher).__name__}."
            )
        hparams = {}
    if not isinstance(switcher, Switcher):
        raise TypeError(
            f"build_dtrn needs a tfmtl Switcher or a zoo name; got {type(switcher).__name__}."
        )
    if switcher.num_outputs != len(tasks):
        raise ValueError(
            f"Switcher '{switcher.name}' has num_outputs={switcher.num_outputs} but there are "
            f"{len(tasks)} tasks {[t.name for t in tasks]}."
        )
    sequences = [f.name for f in spec.of_kind("sequence")] if sequences is None else list(sequences)
    if target is None:
        shared = sorted({spec[n].share_with for n in sequences if spec[n].share_with})
        if len(shared) > 1:
            raise ValueError(
                f"Sequences {sequences} share with several features {shared}: pass `target=`."
            )
        target = shared[0] if shared else None
    bottom = DTRNBottom(
        spec,
        len(tasks),
        sequences,
        target,
        tim=tim,
        trm=trm,
        lookup=lookup,
        num_heads=num_heads,
        ffn_units=ffn_units,
        hyper_units=hyper_units,
        type_dim=type_dim,
        injection=injection,
        trm_units=trm_units,
        name="dtrn_bottom",
    )
    inputs = spec.inputs(lookup=lookup)
    outputs = switcher(bottom(inputs))
    if switcher.return_gates:
        outputs = outputs[0]
    heads = {
        t.name: Tower(
            list(t.tower_units), kind=t.kind, dropout=tower_dropout, name=f"tower_{t.name}"
        )(o)
        for t, o in zip(tasks, outputs)
    }
    variant = {
        (True, True): "dtrn",
        (True, False): "tim",
        (False, True): "trm",
        (False, False): "plain",
    }[(tim, trm)]
    metadata = {
        "model": "dtrn",
        "backbone": backbone,
        "variant": variant,
        "hparams": hparams,
        "dtrn": {
            "sequences": sequences,
            "target": target,
            "tim": tim,
            "trm": trm,
            "injection": bottom.injection,
        },
        **(metadata or {}),
    }
    return MultiTaskModel(
        inputs=inputs,
        outputs=heads,
        tasks=tasks,
        metadata=metadata,
        name=name or f"dtrn_{backbone}",
    )
