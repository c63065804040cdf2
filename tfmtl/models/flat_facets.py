"""The flat baseline of MFH's tables (MFH Fig. 4), with the serving groups of a tree model."""

from __future__ import annotations

from tfmtl.facets import facet_groups
from tfmtl.features import FeatureSpec
from tfmtl.models.flat import build_flat
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.models.zoo import default_hparams, make_switcher
from tfmtl.tasks import check_tasks


def build_flat_facets(
    spec: FeatureSpec,
    tasks,
    switcher: str | tuple = "mmoe",
    route_facets=None,
    groups=None,
    lookup: bool = True,
    name: str | None = None,
) -> MultiTaskModel:
    """Flat baseline (MFH Fig. 4) with the serving groups in `metadata["facet_groups"]`.

    Leaf tasks (flat 6-task) key groups by `route_facets`; base tasks without facets (flat
    2-task) serve every group in `groups` with all heads.

    Args:
        spec: `FeatureSpec`. Adapted.
        tasks: list of `Task`. Leaf tasks (with facets) or base tasks.
        switcher: str or `(name, hparams)`. The zoo switcher. Defaults to `"mmoe"`.
        route_facets: str or list of str. The facets leaf tasks' groups are keyed by.
        groups: list of str. With base tasks, the groups every head serves.
        lookup: bool. Raw values looked up in the model. Defaults to `True`.
        name: str. The model's name. Defaults to `"flat_<switcher>"`.

    Returns:
        A `MultiTaskModel` with one head `[B]` per task.

    Example:

    >>> columns = {"x0": np.arange(8.0), "x1": np.ones(8)}
    >>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0"), tfmtl.DenseFeature("x1")])
    >>> tasks = [tfmtl.Task("ctr"), tfmtl.Task("rating", kind="regression")]
    >>> model = build_flat_facets(spec.adapt(columns), tasks, groups=["new", "old"])
    >>> model.name, model.metadata["facet_groups"]["new"]
    ('flat_mmoe', ['ctr', 'rating'])
    """
    tasks = check_tasks(tasks)
    zoo_name, hparams = (switcher, {}) if isinstance(switcher, str) else switcher
    if route_facets is not None:
        routes = facet_groups(tasks, route_facets)
    else:
        routes = {str(g): [t.name for t in tasks] for g in (groups or ())}
    model = build_flat(
        spec,
        tasks,
        make_switcher(zoo_name, len(tasks), **hparams),
        lookup=lookup,
        name=name or f"flat_{zoo_name}",
    )
    model.metadata.update(
        {
            "model": f"flat_{zoo_name}",
            "macro": "flat",
            "switcher": zoo_name,
            "hparams": {**default_hparams(zoo_name), **hparams},
            "facet_groups": routes,
        }
    )
    return model
