"""STEM-Net: T + 1 embedding blocks (one per task, one shared), the STEM layer, one tower a task."""

from __future__ import annotations

from tfmtl.features import FeatureSpec
from tfmtl.layers.embedding import FeatureEmbedding
from tfmtl.layers.stem import STEM
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.models.stages import check_switcher, switch, towers
from tfmtl.tasks import check_tasks


def build_stem(
    spec: FeatureSpec,
    tasks,
    stem: STEM | None = None,
    lookup: bool = True,
    tower_dropout: float = 0.0,
    name: str = "stem",
    metadata: dict | None = None,
) -> MultiTaskModel:
    """Build STEM-Net (Su et al., AAAI'24): shared and task-specific embeddings, AFTB experts.

    The raw inputs are shared; each is embedded T + 1 times, by T task-specific
    `FeatureEmbedding` blocks named `features_<task>` and one shared block named `features`,
    each with its own tables (STEM eq 1). The views enter the `STEM` layer in that order
    (task views in task order, then the shared one), and task t's `Tower` reads its output
    t (STEM eq 5: `y^t = t^t(STEM output t)`). Under AFTB (STEM eq 4), task t's loss
    updates its own and the shared tables only.

    Args:
        spec: `FeatureSpec`. Adapted; every block embeds every dense and categorical feature
            with the spec's own widths.
        tasks: list of `Task`.
        stem: `STEM`. The expert layer, with one output per task. Defaults to a `STEM` with
            its default hyper-parameters, named `"stem"`.
        lookup: bool. Raw values looked up in the model (TF backend, exportable), or
            pre-encoded ids (every backend). See `FeatureEmbedding`. Defaults to `True`.
        tower_dropout: float. Dropout in every tower. Defaults to `0.0`.
        name: str. The model's name. Defaults to `"stem"`.
        metadata: dict. JSON-able extras recorded in the model (`MultiTaskModel.metadata`).

    Returns:
        A `MultiTaskModel`: raw features in, one head `[B]` per task out, keyed by task name;
        the STEM gates are readable with `tfmtl.models.gate_model`.

    Example:

    >>> columns = {"x0": np.arange(8.0), "city": np.array(list("abcdabcd"), object)}
    >>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0"),
    ...                           tfmtl.CategoricalFeature("city", embedding_dim=3)])
    >>> tasks = [tfmtl.Task("ctr"), tfmtl.Task("cvr")]
    >>> model = build_stem(spec.adapt(columns), tasks, STEM(2, expert_units=[4], name="stem"))
    >>> sorted(model.output), [l.name for l in model.layers if l.name.startswith("features")]
    (['ctr', 'cvr'], ['features_ctr', 'features_cvr', 'features'])
    """
    tasks = check_tasks(tasks)
    stem = _checked(stem, tasks)
    inputs = spec.inputs(lookup=lookup)
    blocks = [FeatureEmbedding(spec, lookup=lookup, name=f"features_{t.name}") for t in tasks]
    blocks.append(FeatureEmbedding(spec, lookup=lookup, name="features"))
    views = [block(inputs) for block in blocks]  # T task embeddings, then the shared one
    heads = towers(tasks, switch(stem, views), tower_dropout)
    record = {"model": "stem", "hparams": _hparams(stem, tower_dropout), **(metadata or {})}
    return MultiTaskModel(inputs=inputs, outputs=heads, tasks=tasks, metadata=record, name=name)


def _checked(stem, tasks) -> STEM:
    """`stem`, or a default `STEM` named "stem", once it has one output per task."""
    stem = stem if stem is not None else STEM(len(tasks), name="stem")
    if not isinstance(stem, STEM):
        raise TypeError(
            f"build_stem needs a tfmtl.layers.STEM layer (its views are T task embeddings, "
            f"then the shared one). Received: stem={type(stem).__name__}."
        )
    return check_switcher(stem, tasks, "build_stem")


def _hparams(stem: STEM, tower_dropout: float) -> dict:
    return {
        "num_task_experts": stem.num_task_experts,
        "num_shared_experts": stem.num_shared_experts,
        "expert_units": stem.expert_units,
        "tower_dropout": tower_dropout,
    }


def build_stem_family(
    spec: FeatureSpec,
    tasks,
    lookup: bool = True,
    num_task_experts: int = 1,
    num_shared_experts: int = 1,
    expert_units: list[int] | tuple[int, ...] = (128, 64),
    tower_dropout: float = 0.0,
) -> MultiTaskModel:
    """The registry's builder of family `stem`: a `STEM` layer from the hyper-parameters.

    `{"family": "stem", "num_task_experts": 2}` builds `build_stem(spec, tasks,
    STEM(len(tasks), num_task_experts=2, ...))`.
    """
    tasks = check_tasks(tasks)
    stem = STEM(
        len(tasks),
        num_task_experts=num_task_experts,
        num_shared_experts=num_shared_experts,
        expert_units=list(expert_units),
        name="stem",
    )
    return build_stem(spec, tasks, stem, lookup=lookup, tower_dropout=tower_dropout)
