"""DTRN: task-specific bottoms (TIM + TRM) feeding any backbone switcher, then towers."""

from __future__ import annotations

from tfmtl.features import FeatureSpec
from tfmtl.layers.dtrn import DTRNBottom
from tfmtl.layers.switcher import Switcher
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.models.stages import check_switcher, switch, towers
from tfmtl.tasks import check_tasks

# The paper's ablation (DTRN Table 5): variant -> (task-specific TIM, TRM).
DTRN_VARIANTS = {
    "dtrn": (True, True),
    "tim": (True, False),
    "trm": (False, True),
    "plain": (False, False),
}


def build_dtrn(
    spec: FeatureSpec,
    tasks,
    switcher: Switcher | str,
    bottom: str | DTRNBottom = "dtrn",
    lookup: bool = True,
    tower_dropout: float = 0.0,
    name: str | None = None,
) -> MultiTaskModel:
    """Build DTRN (CIKM'23 eq 10): `[o_1..o_T] = MTL_model(r_1, ..., r_T)` around any switcher.

    `DTRNBottom` gives the task-specific bottoms `r_i` (TIM + TRM); they enter the switcher
    as its list of views (output k reads view k), and task k's `Tower` reads output k. The
    `"plain"` bottom is the backbone over the same inputs (a task-shared interest
    concatenated to the sparse embeddings), the baseline of the paper's ablation.

    A behaviour sequence input is `[None, max_len]` item ids, oldest first, right-padded with
    the feature's `padding` (masked out: no length input).

    Args:
        spec: `FeatureSpec`. Adapted, with one or more `SequenceFeature`s.
        tasks: list of `Task`.
        switcher: `Switcher` with one output per task, or a zoo name ("mmoe", "ple", ...)
            made with its default hyper-parameters.
        bottom: str or `DTRNBottom`. A variant of the ablation in `DTRN_VARIANTS` ("dtrn",
            "tim", "trm", "plain") over every sequence of `spec` with TIM's and TRM's
            defaults, or a `DTRNBottom` built with your own. Defaults to `"dtrn"`.
        lookup: bool. Raw values looked up in the model (exportable) or pre-encoded ids.
            Defaults to `True`.
        tower_dropout: float. Dropout in every tower. Defaults to `0.0`.
        name: str. The model's name. Defaults to `"dtrn_<backbone>"`.

    Returns:
        A `MultiTaskModel` with one head `[B]` per task; `metadata["dtrn"]` records the bottom.

    Example:

    >>> F = tfmtl.features
    >>> spec = tfmtl.FeatureSpec([
    ...     F.CategoricalFeature("item_id", embedding_dim=4, dtype="int64"),
    ...     F.SequenceFeature("liked", max_len=3, share_with="item_id", dtype="int64")])
    >>> spec = spec.adapt({"item_id": np.arange(1, 7), "liked": np.arange(18).reshape(6, 3)})
    >>> tasks = [tfmtl.Task("ctr"), tfmtl.Task("rating", kind="regression")]
    >>> model = build_dtrn(spec, tasks, "mmoe", bottom="tim")
    >>> model.name, model.metadata["variant"], sorted(model.output)
    ('dtrn_mmoe', 'tim', ['ctr', 'rating'])
    """
    tasks = check_tasks(tasks)
    backbone, switcher = _backbone(switcher, tasks)
    bottom = _bottom(bottom, spec, len(tasks), lookup)
    inputs = spec.inputs(lookup=lookup)
    heads = towers(tasks, switch(switcher, bottom(inputs)), tower_dropout)
    return MultiTaskModel(
        inputs=inputs,
        outputs=heads,
        tasks=tasks,
        metadata=_metadata(bottom, backbone),
        name=name or f"dtrn_{backbone}",
    )


def _backbone(switcher, tasks) -> tuple[str, Switcher]:
    """`(name, switcher)`: a zoo name made with its defaults, or the switcher given, checked."""
    if isinstance(switcher, str):
        from tfmtl.models.zoo import make_switcher

        return switcher, check_switcher(make_switcher(switcher, len(tasks)), tasks, "build_dtrn")
    return switcher.name, check_switcher(switcher, tasks, "build_dtrn")


def _metadata(bottom: DTRNBottom, backbone: str) -> dict:
    variant = {v: k for k, v in DTRN_VARIANTS.items()}[(bottom.use_tim, bottom.use_trm)]
    return {
        "model": "dtrn",
        "backbone": backbone,
        "variant": variant,
        "dtrn": {
            "sequences": bottom.sequences,
            "target": bottom.target,
            "tim": bottom.use_tim,
            "trm": bottom.use_trm,
            "injection": bottom.injection,
        },
    }


def _bottom(bottom, spec, num_tasks: int, lookup: bool) -> DTRNBottom:
    if isinstance(bottom, DTRNBottom):
        if bottom.num_tasks != num_tasks or bottom.lookup != lookup:
            raise ValueError(
                f"build_dtrn: the DTRNBottom has num_tasks={bottom.num_tasks}, "
                f"lookup={bottom.lookup}; the model needs num_tasks={num_tasks}, lookup={lookup}."
            )
        return bottom
    if bottom not in DTRN_VARIANTS:
        raise ValueError(
            f"build_dtrn: unknown bottom={bottom!r}. Choose one of: {', '.join(DTRN_VARIANTS)}, "
            "or pass a DTRNBottom."
        )
    tim, trm = DTRN_VARIANTS[bottom]
    no_trm = {} if trm else {"trm_units": 0}  # with TRM: DTRNBottom's default width
    return DTRNBottom(spec, num_tasks, tim=tim, lookup=lookup, name="dtrn_bottom", **no_trm)
