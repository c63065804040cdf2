"""H-MTL and MFH (Liu et al., CIKM'22): trees of switchers over the tasks' facets.

- **H-MTL** (MFH §4.1.2, eq 4): one tree over an ordered list of facets. Level 0 is a
  switcher over the input with one output per partition of the first facet; each output
  feeds that partition's MLP, whose output feeds a switcher over the next facet; the last
  switchers feed the task towers.
- **MFH** (§4.1.3, eq 5; §4.2): the H-MTL trees of every facet ordering, nested. The root
  switcher branches to one MLP per facet; facet `F`'s switcher branches to one MLP per
  partition `F=p`; the node of code `c` (a set of facet partitions) reads the paths of every
  node whose code is `c` less one partition, combined by `PathCombine`; leaf task `(F_1^j1,
  ..., F_N^jN)` combines the N paths through its (N-1)-partition codes with learnt linear
  weights. `depth` caps the codes' size (§4.2: "expand ... to any level k, then connect
  directly to the towers").

Every node's switcher is any zoo switcher (`make_switcher(name, n, **hp)`), per level if
wanted; MLPs may be `[]` (zero layers, §4.1.2); towers are heterogeneous per task
(`Task.tower_units`) and tasks may read their own features (`task_features`, §4.3).

Example:

>>> columns = {"x0": np.arange(8.0), "x1": np.ones(8)}
>>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0"), tfmtl.DenseFeature("x1")]).adapt(columns)
>>> base = [tfmtl.Task("ctr"), tfmtl.Task("rating", kind="regression")]
>>> leaves = tfmtl.facets.expand_tasks(base, "group", ["new", "low"], column="activity_group")
>>> model = build_mfh(spec, leaves, ["behaviour", "group"], ("mmoe", {"num_experts": 2}))
>>> model.metadata["facet_groups"]["new"], model.get_layer("switcher_group").num_outputs
(['ctr.new', 'rating.new'], 2)
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import keras

from tfmtl.facets import BEHAVIOUR, facet_groups
from tfmtl.features import FeatureSpec
from tfmtl.layers.feature_select import FeatureSelect
from tfmtl.layers.mlp import MLP
from tfmtl.layers.path_combine import PathCombine
from tfmtl.layers.switcher import Switcher
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.models.stages import embed, switch, towers
from tfmtl.models.tree_plan import ROOT, TreeNode, hmtl_plan, mfh_plan, scope_name
from tfmtl.models.zoo import make_switcher
from tfmtl.tasks import check_tasks

# -- builders ------------------------------------------------------------------------------
SwitcherArg = str | tuple | dict | Callable


@dataclasses.dataclass(frozen=True)
class TreeOptions:
    """What a tree builder takes beside its plan, switcher and branch MLPs.

    Args:
        route_facets: facet(s) the serving groups are keyed by (`metadata["facet_groups"]`);
            defaults to every facet but `"behaviour"` (e.g. group and freshness: `"high.fresh"`).
        task_features: dict. Task -> features only that task's tower reads (MFH §4.3); those
            features leave the shared input (e.g. `user_id` for every task but new users').
        lookup: bool. Raw values looked up in the model (see `build_flat`). Defaults to `True`.
        tower_dropout: float. Dropout in every tower. Defaults to `0.0`.
        name: str. The model's name. Defaults to the structure's, `"hmtl"` or `"mfh"`.
    """

    route_facets: str | list | None = None
    task_features: dict | None = None
    lookup: bool = True
    tower_dropout: float = 0.0
    name: str | None = None

    @classmethod
    def of(cls, options) -> "TreeOptions":
        """`options` as given to a builder: `None`, a `TreeOptions` or a dict of its fields."""
        if options is None or isinstance(options, cls):
            return options or cls()
        fields = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in options if k not in fields]
        if unknown:
            raise ValueError(
                f"options.{unknown[0]}: a tree builder has no option {unknown[0]!r}; it takes: "
                f"{', '.join(fields)}."
            )
        return cls(**options)


def build_hmtl(
    spec: FeatureSpec,
    tasks,
    facet_order,
    switcher: SwitcherArg = "mmoe",
    branch_units=(64,),
    options: TreeOptions | dict | None = None,
) -> MultiTaskModel:
    """H-MTL (MFH §4.1.2, eq 4): one tree of switchers over `facet_order`.

    `Output_{New&Skip} = Tower(Switcher_Skip^{New&Skip}(MLP_Skip(Switcher_Input^{Skip}(Input))))`.

    Args:
        spec: an adapted `FeatureSpec`.
        tasks: leaf `Task`s with `facets` (see `tfmtl.facets.expand_tasks`).
        facet_order: list of str. The tree's facet order, first facet at level 0.
        switcher: the switcher of every node: a zoo name, or `(name, hparams)`; or a dict
            level -> name or `(name, hparams)` (key `"default"` for the other levels); or
            `callable(node: TreeNode, num_outputs) -> Switcher`, named `node.switcher_name`.
        branch_units: list of int (every branch MLP), `[]` (zero layers), or
            `callable(node) -> list` for heterogeneous MLPs.
        options: `TreeOptions` or a dict of its fields (`{"route_facets": "group"}`): serving
            groups, per-task features, lookup, tower dropout, name.

    Returns:
        A `MultiTaskModel` with one head `[B]` per leaf task.
    """
    tasks = check_tasks(tasks)
    return _build(hmtl_plan(tasks, facet_order), spec, tasks, switcher, branch_units, options)


def build_mfh(
    spec: FeatureSpec,
    tasks,
    facet_order=None,
    switcher: SwitcherArg = "mmoe",
    branch_units=(64,),
    depth: int | None = None,
    options: TreeOptions | dict | None = None,
) -> MultiTaskModel:
    """MFH (MFH §4.1.3 eq 5, §4.2): nested H-MTL trees of every facet ordering.

    `Output_{New&Skip} = Tower(a_1 * Switcher_Skip^{New&Skip}(MLP_Skip(Switcher_Behavior^{Skip}(
    MLP_Behavior(Switcher_Input^{Behavior}(Input))))) + a_2 * Switcher_New^{New&Skip}(...))`,
    the `a_p` learnt (`PathCombine`); N facets give every leaf N paths.

    Args: as for `build_hmtl`; `facet_order` only orders names and outputs (every ordering
    is in the model); `depth` caps the size of the codes expanded (default N - 1).
    """
    tasks = check_tasks(tasks)
    plan = mfh_plan(tasks, facet_order, depth)
    return _build(plan, spec, tasks, switcher, branch_units, options)


# -- wiring ---------------------------------------------------------------------------------
def _build(plan, spec, tasks, switcher, branch_units, options) -> MultiTaskModel:
    options = TreeOptions.of(options)
    make = _switcher_maker(switcher)
    units_of = branch_units if callable(branch_units) else (lambda node, u=list(branch_units): u)
    inputs, x = embed(spec, options.lookup)
    shared, own = _feature_views(spec, x, tasks, options.task_features)
    outputs: dict = {}
    for node in plan.nodes.values():
        h = shared if node.name == ROOT else _branch(node, outputs, units_of(node))
        outputs[node.name] = switch(_node_switcher(make, node), h)
    tower_inputs = []
    for t in tasks:
        h = _combine(
            [outputs[p][i] for p, i in plan.leaves[t.name]], f"combine_{scope_name(t.name)}"
        )
        if t.name in own:
            h = keras.layers.Concatenate(name=f"with_features_{scope_name(t.name)}")(
                [h, own[t.name]]
            )
        tower_inputs.append(h)
    names = [scope_name(t.name) for t in tasks]
    heads = towers(tasks, tower_inputs, options.tower_dropout, names)
    metadata = _metadata(plan, tasks, switcher, options)
    return MultiTaskModel(
        inputs=inputs, outputs=heads, tasks=tasks, metadata=metadata, name=options.name or plan.kind
    )


def _metadata(plan, tasks, switcher, options: TreeOptions) -> dict:
    # default routing: by every facet but the behaviour (user group, item freshness, ...)
    route = options.route_facets
    if route is None:
        route = [f for f in plan.facet_order if f != BEHAVIOUR] or plan.facet_order[-1:]
    name_of, hparams = _describe(switcher)
    return {
        "model": plan.kind,
        "macro": plan.kind,
        "switcher": name_of,
        "hparams": hparams,
        "route_facets": [route] if isinstance(route, str) else list(route),
        "facet_groups": facet_groups(tasks, route),
        "task_features": {k: list(v) for k, v in (options.task_features or {}).items()},
        "tree": plan.to_config(),
    }


def _branch(node: TreeNode, outputs: dict, units: list):
    """The input of a non-root node: its parents' paths combined, then its branch MLP."""
    h = _combine([outputs[p][i] for p, i in node.parents], f"combine_{scope_name(node.name)}")
    return MLP(list(units), name=f"mlp_{scope_name(node.name)}")(h) if list(units) else h


def _node_switcher(make, node: TreeNode) -> Switcher:
    layer = make(node, len(node.children))
    if not isinstance(layer, Switcher) or layer.num_outputs != len(node.children):
        raise ValueError(
            f"The switcher for node '{node.name}' must be a tfmtl Switcher with num_outputs="
            f"{len(node.children)} (children {node.children}). Received: {layer!r}"
        )
    if layer.name != node.switcher_name:
        raise ValueError(
            f"The switcher for node '{node.name}' must be named {node.switcher_name!r} "
            f"(`node.switcher_name`). Received: name={layer.name!r}"
        )
    return layer


def _describe(switcher) -> tuple:
    """The metadata's `switcher` and `hparams` for the builders' switcher argument."""
    if isinstance(switcher, str):
        return switcher, {}
    if isinstance(switcher, tuple):
        return switcher[0], dict(switcher[1])
    return repr(switcher), {}


def _combine(paths: list, name: str):
    return paths[0] if len(paths) == 1 else PathCombine(len(paths), name=name)(paths)


def _feature_views(spec, x, tasks, task_features):
    """Shared input (features no task claims) and each claiming task's own features."""
    task_features = {k: list(v) for k, v in (task_features or {}).items()}
    names = {t.name for t in tasks}
    unknown = sorted(set(task_features) - names)
    if unknown:
        raise ValueError(f"task_features names unknown task(s) {unknown}. Tasks: {sorted(names)}")
    claimed = {f for fs in task_features.values() for f in fs}
    missing = sorted(claimed - set(spec.names))
    if missing:
        raise ValueError(
            f"task_features names feature(s) {missing} absent from the spec. Known: {spec.names}"
        )
    if not claimed:
        return x, {}
    shared_names = [n for n in spec.names if n not in claimed and spec[n].kind != "sequence"]
    shared = FeatureSelect(spec, shared_names, name="shared_features")(x)
    own = {
        t: FeatureSelect(spec, fs, name=f"features_{scope_name(t)}")(x)
        for t, fs in task_features.items()
        if fs
    }
    return shared, own


def _switcher_maker(switcher):
    """`make(node, num_outputs) -> Switcher` for the builders' switcher argument."""
    if isinstance(switcher, (str, tuple)):
        return lambda node, n: _zoo_switcher(switcher, node, n)
    if isinstance(switcher, dict):

        def by_level(node, n):
            choice = switcher.get(node.level, switcher.get("default"))
            if choice is None:
                levels = sorted(k for k in switcher if k != "default")
                raise ValueError(
                    f"switcher has no entry for level {node.level} (node '{node.name}') and "
                    f"no 'default'. Levels given: {levels}"
                )
            return _zoo_switcher(choice, node, n)

        return by_level
    if callable(switcher):
        return switcher
    raise TypeError(
        "switcher must be a zoo name, (name, hparams), a dict level -> either, or a callable "
        f"(node, num_outputs) -> Switcher. Received: {switcher!r}"
    )


def _zoo_switcher(choice, node: TreeNode, num_outputs: int) -> Switcher:
    name, hparams = (choice, {}) if isinstance(choice, str) else (choice[0], dict(choice[1]))
    return make_switcher(name, num_outputs, layer_name=node.switcher_name, **hparams)
