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

>>> leaves = tfmtl.facets.expand_tasks([Task("ctr"), Task("rating", kind="regression")],
...                                    "group", ["new", "low", "high"], column="activity_group")
>>> model = build_mfh(spec, leaves, ["behaviour", "group"], "mmoe",
...                   switcher_hparams={"num_experts": 4, "expert_units": [32]})
>>> model.metadata["facet_groups"]["new"]
['ctr.new', 'rating.new']
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from typing import Callable

import keras

from tfmtl.facets import BEHAVIOUR, facet_groups, facet_partitions, task_codes
from tfmtl.features import FeatureSpec
from tfmtl.layers.embedding import FeatureEmbedding
from tfmtl.layers.feature_select import FeatureSelect
from tfmtl.layers.mlp import MLP
from tfmtl.layers.path_combine import PathCombine
from tfmtl.layers.switcher import Switcher
from tfmtl.layers.towers import Tower
from tfmtl.models.flat import build_flat
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.models.zoo import default_hparams, make_switcher
from tfmtl.tasks import check_tasks

ROOT = "root"


@dataclasses.dataclass
class TreeNode:
    """One switcher of a tree: what feeds it and what its outputs feed.

    `name`: `"root"`, a facet (`"group"`, MFH level 1) or a code (`"behaviour=ctr,group=new"`).
    `parents`: `(node, output index)` paths combined into its input (none for the root).
    `children`: node or task names, one per switcher output, in output order.
    """

    name: str
    level: int
    code: tuple = ()
    parents: list = dataclasses.field(default_factory=list)
    children: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class TreePlan:
    """The wiring of an H-MTL or MFH model, before any layer exists.

    `nodes` in topological order; `leaves`: task -> `(node, output index)` paths its tower reads.
    """

    kind: str
    facet_order: list
    nodes: dict
    leaves: dict

    def feeds(self, task: str) -> list:
        """Names of the switchers whose outputs reach `task`'s tower directly."""
        return [node for node, _ in self.leaves[task]]

    def to_config(self) -> dict:
        return {
            "kind": self.kind,
            "facet_order": list(self.facet_order),
            "nodes": [
                {
                    "name": n.name,
                    "level": n.level,
                    "parents": [list(p) for p in n.parents],
                    "children": list(n.children),
                }
                for n in self.nodes.values()
            ],
            "leaves": {t: [list(p) for p in paths] for t, paths in self.leaves.items()},
        }


def scope_name(text: str) -> str:
    """A node or task name as a layer name TensorFlow accepts as a scope: `=` -> `-`, `,` and `@` -> `.`.

    `scope_name("behaviour=ctr,group=new") == "behaviour-ctr.group-new"`; leaf names (`ctr.new`) pass.
    """
    text = text.replace("@", ".").replace("=", "-").replace(",", ".")
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", text)


def code_name(code) -> str:
    """`(("behaviour", "ctr"), ("group", "new"))` -> `"behaviour=ctr,group=new"`."""
    return ",".join(f"{f}={p}" for f, p in code)


# -- plans ---------------------------------------------------------------------------------
def hmtl_plan(tasks, facet_order) -> TreePlan:
    """The H-MTL tree (MFH eq 4) over `facet_order`: prefix codes are nodes, tasks are leaves.

    A task not split by a facet skips it (e.g. only high-activity tasks split by item
    freshness); a node whose tasks disagree on whether a facet applies is an error.
    """
    tasks = check_tasks(tasks)
    order = list(facet_order)
    partitions = facet_partitions(tasks, order)
    codes = task_codes(tasks, order)
    plan = TreePlan("hmtl", order, {}, {})

    def expand(code: tuple, members: list, depth: int, parent):
        name = code_name(code) or ROOT
        node = TreeNode(name, level=len(code), code=code, parents=[parent] if parent else [])
        plan.nodes[name] = node
        facets_left = [f for f in order[depth:] if any(f in dict(codes[t]) for t in members)]
        facet = facets_left[0]
        split = [t for t in members if facet in dict(codes[t])]
        if len(split) != len(members):
            lacking = next(t for t in members if t not in split)
            raise ValueError(
                f"H-MTL node '{name}': task '{split[0]}' is split by facet '{facet}' but task '{lacking}' is not; "
                f"put '{facet}' after the facets that separate them in facet_order={order}."
            )
        for p in partitions[facet]:
            group = [t for t in members if dict(codes[t])[facet] == p]
            if not group:
                continue
            child = code + ((facet, p),)
            leaf = [t for t in group if len(codes[t]) == len(child)]
            edge = (name, len(node.children))
            if leaf:
                if len(group) > 1:
                    raise ValueError(
                        f"Task '{leaf[0]}' has facets {dict(child)}, a prefix of task "
                        f"'{next(t for t in group if t != leaf[0])}''s: one cannot be a leaf above the other."
                    )
                node.children.append(leaf[0])
                plan.leaves[leaf[0]] = [edge]
            else:
                node.children.append(code_name(child))
                expand(child, group, order.index(facet) + 1, edge)

    expand((), [t.name for t in tasks], 0, None)
    plan.leaves = {t.name: plan.leaves[t.name] for t in tasks}
    return plan


def mfh_plan(tasks, facet_order=None, depth: int | None = None) -> TreePlan:
    """The MFH graph (MFH eq 5, §4.2): nested trees of every facet ordering.

    Nodes: the root; one per facet (level 1); one per code `c` that is a proper sub-code of
    some task's code with `1 <= |c| <= depth` (level `|c| + 1`). Node `c` reads every node
    `c - {F=p}` (or facet `F` when `|c| = 1`); a task reads every node of size
    `min(|code| - 1, depth)` inside its code (or its facet's node for one-facet codes).
    `depth` defaults to N - 1 for N facets (full expansion).
    """
    tasks = check_tasks(tasks)
    partitions = facet_partitions(tasks, facet_order)
    order = list(partitions)
    codes = task_codes(tasks, order)
    depth = len(order) - 1 if depth is None else int(depth)
    if depth < 1 and len(order) > 1:
        raise ValueError(f"MFH depth must be >= 1. Received: depth={depth}")

    def sort_key(code):
        return (len(code), [(order.index(f), partitions[f].index(p)) for f, p in code])

    inner = set()
    for code in codes.values():
        for size in range(1, min(len(code) - 1, depth) + 1):
            inner.update(itertools.combinations(code, size))
    plan = TreePlan("mfh", order, {ROOT: TreeNode(ROOT, 0)}, {})
    used = [f for f in order if any(f in dict(c) for c in codes.values())]
    for f in used:
        plan.nodes[f] = TreeNode(f, 1, parents=[])
    for code in sorted(inner, key=sort_key):
        plan.nodes[code_name(code)] = TreeNode(code_name(code), len(code) + 1, code=code)

    def parents_of(code, size):
        if size == 0:
            return [code[0][0]] if len(code) == 1 else []
        return [code_name(sub) for sub in itertools.combinations(code, size)]

    def connect(child: str, parent_names: list) -> list:
        edges = []
        for p in parent_names:
            edges.append((p, len(plan.nodes[p].children)))
            plan.nodes[p].children.append(child)
        return edges

    for f in used:
        plan.nodes[f].parents = connect(f, [ROOT])
    for code in sorted(inner, key=sort_key):
        node = plan.nodes[code_name(code)]
        node.parents = connect(
            node.name, [code[0][0]] if len(code) == 1 else parents_of(code, len(code) - 1)
        )
    for t in tasks:
        code = codes[t.name]
        size = min(len(code) - 1, depth)
        plan.leaves[t.name] = connect(t.name, parents_of(code, size) if size else [code[0][0]])
    return plan


# -- builders ------------------------------------------------------------------------------
SwitcherArg = str | dict | Callable


def build_hmtl(
    spec: FeatureSpec,
    tasks,
    facet_order,
    switcher: SwitcherArg = "mmoe",
    switcher_hparams: dict | None = None,
    branch_units=(64,),
    route_facets=None,
    task_features: dict | None = None,
    lookup: bool = True,
    tower_dropout: float = 0.0,
    name: str = "hmtl",
) -> MultiTaskModel:
    """H-MTL (MFH §4.1.2, eq 4): one tree of switchers over `facet_order`.

    `Output_{New&Skip} = Tower(Switcher_Skip^{New&Skip}(MLP_Skip(Switcher_Input^{Skip}(Input))))`.

    Args:
        spec: an adapted `FeatureSpec`.
        tasks: leaf `Task`s with `facets` (see `tfmtl.facets.expand_tasks`).
        facet_order: list of str. The tree's facet order, first facet at level 0.
        switcher: zoo name for every node; or dict level -> name or `(name, hparams)`;
            or `callable(node: TreeNode, num_outputs) -> Switcher`.
        switcher_hparams: dict. Hyper-parameters for zoo switchers named by string.
        branch_units: list of int (every branch MLP), `[]` (zero layers), or
            `callable(node) -> list` for heterogeneous MLPs.
        route_facets: facet(s) the serving groups are keyed by (`metadata["facet_groups"]`);
            defaults to every facet but `"behaviour"` (e.g. group and freshness: `"high.fresh"`).
        task_features: dict. Task -> features only that task's tower reads (MFH §4.3); those
            features leave the shared input (e.g. `user_id` for every task but new users').
        lookup, tower_dropout: as for `build_flat`.
    """
    tasks = check_tasks(tasks)
    return _build(
        hmtl_plan(tasks, facet_order),
        spec,
        tasks,
        switcher,
        switcher_hparams,
        branch_units,
        route_facets,
        task_features,
        lookup,
        tower_dropout,
        name,
    )


def build_mfh(
    spec: FeatureSpec,
    tasks,
    facet_order=None,
    switcher: SwitcherArg = "mmoe",
    switcher_hparams: dict | None = None,
    branch_units=(64,),
    route_facets=None,
    task_features: dict | None = None,
    depth: int | None = None,
    lookup: bool = True,
    tower_dropout: float = 0.0,
    name: str = "mfh",
) -> MultiTaskModel:
    """MFH (MFH §4.1.3 eq 5, §4.2): nested H-MTL trees of every facet ordering.

    `Output_{New&Skip} = Tower(a_1 * Switcher_Skip^{New&Skip}(MLP_Skip(Switcher_Behavior^{Skip}(
    MLP_Behavior(Switcher_Input^{Behavior}(Input))))) + a_2 * Switcher_New^{New&Skip}(...))`,
    the `a_p` learnt (`PathCombine`); N facets give every leaf N paths.

    Args: as for `build_hmtl`; `facet_order` only orders names and outputs (every ordering
    is in the model); `depth` caps the size of the codes expanded (default N - 1).
    """
    tasks = check_tasks(tasks)
    return _build(
        mfh_plan(tasks, facet_order, depth),
        spec,
        tasks,
        switcher,
        switcher_hparams,
        branch_units,
        route_facets,
        task_features,
        lookup,
        tower_dropout,
        name,
    )


def build_flat_facets(
    spec: FeatureSpec,
    tasks,
    switcher: str = "mmoe",
    switcher_hparams: dict | None = None,
    route_facets=None,
    groups=None,
    lookup: bool = True,
    name: str | None = None,
) -> MultiTaskModel:
    """Flat baseline (MFH Fig. 4) with the serving groups in `metadata["facet_groups"]`.

    Leaf tasks (flat 6-task) key groups by `route_facets`; base tasks without facets (flat
    2-task) serve every group in `groups` with all heads.
    """
    tasks = check_tasks(tasks)
    hparams = dict(switcher_hparams or {})
    if route_facets is not None:
        fg = facet_groups(tasks, route_facets)
    else:
        fg = {str(g): [t.name for t in tasks] for g in (groups or ())}
    metadata = {
        "model": f"flat_{switcher}",
        "macro": "flat",
        "switcher": switcher,
        "hparams": {**default_hparams(switcher), **hparams},
        "facet_groups": fg,
    }
    return build_flat(
        spec,
        tasks,
        make_switcher(switcher, len(tasks), **hparams),
        lookup=lookup,
        name=name or f"flat_{switcher}",
        metadata=metadata,
    )


# -- wiring ---------------------------------------------------------------------------------
def _build(
    plan,
    spec,
    tasks,
    switcher,
    switcher_hparams,
    branch_units,
    route_facets,
    task_features,
    lookup,
    tower_dropout,
    name,
) -> MultiTaskModel:
    make = _switcher_maker(switcher, switcher_hparams)
    units_of = branch_units if callable(branch_units) else (lambda node, u=list(branch_units): u)
    inputs = spec.inputs(lookup=lookup)
    x = FeatureEmbedding(spec, lookup=lookup, name="features")(inputs)
    shared, own = _feature_views(spec, x, tasks, task_features)
    outputs: dict = {}
    for node in plan.nodes.values():
        if node.name == ROOT:
            h = shared
        else:
            h = _combine(
                [outputs[p][i] for p, i in node.parents], f"combine_{scope_name(node.name)}"
            )
            units = list(units_of(node))
            if units:
                h = MLP(units, name=f"mlp_{scope_name(node.name)}")(h)
        layer = make(node, len(node.children))
        if not isinstance(layer, Switcher) or layer.num_outputs != len(node.children):
            raise ValueError(
                f"The switcher for node '{node.name}' must be a tfmtl Switcher with num_outputs="
                f"{len(node.children)} (children {node.children}). Received: {layer!r}"
            )
        layer.name = f"switcher_{scope_name(node.name)}"
        result = layer(h)
        outputs[node.name] = list(result[0] if layer.return_gates else result)
    heads = {}
    for t in tasks:
        h = _combine(
            [outputs[p][i] for p, i in plan.leaves[t.name]], f"combine_{scope_name(t.name)}"
        )
        if t.name in own:
            h = keras.layers.Concatenate(name=f"with_features_{scope_name(t.name)}")(
                [h, own[t.name]]
            )
        heads[t.name] = Tower(
            list(t.tower_units),
            kind=t.kind,
            dropout=tower_dropout,
            name=f"tower_{scope_name(t.name)}",
        )(h)
    # default routing: by every facet but the behaviour (user group, item freshness, ...)
    route = (
        route_facets
        if route_facets is not None
        else ([f for f in plan.facet_order if f != BEHAVIOUR] or plan.facet_order[-1:])
    )
    metadata = {
        "model": plan.kind,
        "macro": plan.kind,
        "switcher": switcher if isinstance(switcher, str) else repr(switcher),
        "hparams": dict(switcher_hparams or {}),
        "route_facets": [route] if isinstance(route, str) else list(route),
        "facet_groups": facet_groups(tasks, route),
        "task_features": {k: list(v) for k, v in (task_features or {}).items()},
        "tree": plan.to_config(),
    }
    return MultiTaskModel(inputs=inputs, outputs=heads, tasks=tasks, metadata=metadata, name=name)


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


def _switcher_maker(switcher, hparams):
    hparams = dict(hparams or {})
    if isinstance(switcher, str):
        return lambda node, n: make_switcher(switcher, n, **hparams)
    if isinstance(switcher, dict):

        def by_level(node, n):
            choice = switcher.get(node.level, switcher.get("default"))
            if choice is None:
                raise ValueError(
                    f"switcher has no entry for level {node.level} (node '{node.name}') and no 'default'. "
                    f"Levels given: {sorted(k for k in switcher if k != 'default')}"
                )
            zoo_name, own = (
                (choice, {}) if isinstance(choice, str) else (choice[0], dict(choice[1]))
            )
            accepted = default_hparams(
                zoo_name
            )  # shared hparams reach the switchers that take them
            return make_switcher(
                zoo_name, n, **{k: v for k, v in hparams.items() if k in accepted}, **own
            )

        return by_level
    if callable(switcher):
        return switcher
    raise TypeError(
        f"switcher must be a zoo name, a dict level -> name, or a callable. Received: {switcher!r}"
    )
