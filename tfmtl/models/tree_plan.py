"""The wiring of H-MTL and MFH trees (MFH §4.1.2-4.1.3), planned before any layer exists.

`hmtl_plan` lays one tree over an ordered list of facets (eq 4); `mfh_plan` nests the trees of
every ordering (eq 5). A plan names every switcher node, what feeds it and what its outputs
feed; `tfmtl.models.tree` turns it into Keras layers.

Example:

>>> from tfmtl.facets import expand_tasks
>>> leaves = expand_tasks([tfmtl.Task("ctr")], "group", ["new", "old"], column="group")
>>> plan = hmtl_plan(leaves, ["behaviour", "group"])
>>> list(plan.nodes), plan.leaves["ctr.new"]
(['root', 'behaviour=ctr'], [('behaviour=ctr', 0)])
"""

from __future__ import annotations

import dataclasses
import itertools
import re

from tfmtl.facets import facet_partitions, task_codes
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

    @property
    def switcher_name(self) -> str:
        """The name of this node's switcher layer: `switcher_<scope_name(name)>`."""
        return f"switcher_{scope_name(self.name)}"


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
    """A node or task name as a layer name TensorFlow accepts as a scope: `=` -> `-`, `,` and `@`
    -> `.`.

    `scope_name("behaviour=ctr,group=new") == "behaviour-ctr.group-new"`; leaf names (`ctr.new`)
    pass.
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
                f"H-MTL node '{name}': task '{split[0]}' is split by facet '{facet}' but task "
                f"'{lacking}' is not; "
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
                        f"'{next(t for t in group if t != leaf[0])}''s: one cannot be a leaf "
                        "above the other."
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
