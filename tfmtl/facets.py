"""Task facets (MFH §4.1.1): leaf tasks, their partitions, group sample inclusion and routing.

A facet is an orthogonal dimension every task has (behaviour, user group, item freshness);
a facet has partitions; a leaf task is one combination, named `<base>.<partition>...`
(e.g. `ctr.new`, `finish.high.fresh`) and declared through `Task.facets`.

Group sample inclusion (MFH §5.1.4): a leaf trains on its own group's samples and, by rule,
on those of configured other groups ("new user samples in all groups' task training and
low-activity user samples in high-activity user tasks training"), while serving asks only
the heads of the user's own group (`facet_groups`, `route`).

Example:

>>> base = [Task("ctr"), Task("rating", kind="regression")]
>>> leaves = expand_tasks(base, "group", ["new", "low", "high"], column="activity_group",
...                       include=PAPER_INCLUSION)
>>> [t.name for t in leaves][:3], leaves[2].sample_space
(['ctr.new', 'ctr.low', 'ctr.high'], 'activity_group in high,new,low')
>>> facet_groups(leaves, "group")["new"]
['ctr.new', 'rating.new']
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfmtl.tasks import Task, check_tasks

LEAF_SEP = "."  # "@" would be neater, but Keras names TF scopes after output keys
BEHAVIOUR = "behaviour"
# MFH §5.1.4: new-user samples train every group's tasks, low-activity samples the high group's.
PAPER_INCLUSION = {"new": (), "low": ("new",), "high": ("new", "low")}


def leaf_name(base: str, *partitions: str) -> str:
    """`leaf_name("ctr", "new") == "ctr.new"`: a base task split by facet partitions."""
    return LEAF_SEP.join([base, *partitions])


def base_name(task_name: str) -> str:
    """The base task of a leaf: `base_name("ctr.new") == "ctr"`."""
    return task_name.split(LEAF_SEP)[0]


def facet_partitions(tasks, facet_order=None) -> dict:
    """Facet -> its partitions, in `facet_order` (default: first appearance) then first appearance.

    Raises a ValueError naming the facet when `facet_order` lists one no task has, or when a
    task has a facet that `facet_order` omits.
    """
    tasks = check_tasks(tasks)
    seen: dict = {}
    for t in tasks:
        for facet, partition in t.facets.items():
            parts = seen.setdefault(facet, [])
            if str(partition) not in parts:
                parts.append(str(partition))
    if facet_order is None:
        return seen
    order = list(facet_order)
    unknown = [f for f in order if f not in seen]
    if unknown:
        raise ValueError(
            f"facet_order names facet(s) {unknown} that no task has. Task facets: {sorted(seen)}"
        )
    if len(set(order)) != len(order):
        raise ValueError(f"facet_order lists a facet twice: {order}")
    omitted = [f for f in seen if f not in order]
    if omitted:
        owner = next(t.name for t in tasks if omitted[0] in t.facets)
        raise ValueError(
            f"Task '{owner}' has facet '{omitted[0]}' but facet_order={order} omits it. List "
            "every facet."
        )
    return {f: seen[f] for f in order}


def task_codes(tasks, facet_order=None) -> dict:
    """Task name -> its code: `((facet, partition), ...)` in facet order (MFH §4.2's N-tuple).

    Every task needs at least one facet and a code of its own.
    """
    tasks = check_tasks(tasks)
    order = list(facet_partitions(tasks, facet_order))
    codes, owners = {}, {}
    for t in tasks:
        if not t.facets:
            raise ValueError(
                f"Task '{t.name}' has no facets. Hierarchical models need Task.facets, e.g. "
                f"facets={{'behaviour': 'ctr', 'group': 'new'}}; see tfmtl.facets.expand_tasks."
            )
        code = tuple((f, str(t.facets[f])) for f in order if f in t.facets)
        if code in owners:
            raise ValueError(
                f"Tasks '{owners[code]}' and '{t.name}' have the same facets {dict(code)}."
            )
        codes[t.name], owners[code] = code, t.name
    return codes


def expand_tasks(
    tasks,
    facet: str,
    partitions,
    column: str,
    include: dict | None = None,
    tower_units: dict | None = None,
    base_facet: str = BEHAVIOUR,
) -> list[Task]:
    """Split every task by the partitions of `facet`: one leaf per (task, partition).

    Leaf `<task>.<partition>` keeps the task's kind, label column and weights, adds
    `facets[facet] = partition` (and `facets[base_facet] = task.name` if it has no facets
    yet) and restricts its sample space to rows whose `column` is the partition, or one of
    `include[partition]` (group sample inclusion, MFH §5.1.4). Clauses already on the task
    are kept (joined with `and`), so a second call splits by a further facet.

    Args:
        tasks: list of `Task` (base tasks, or leaves of an earlier call).
        facet: str. The facet's name, e.g. `"group"`.
        partitions: list of str. Its partitions, e.g. `["new", "low", "high"]`.
        column: str. The raw column holding each row's partition.
        include: dict. Partition -> other partitions whose samples it also trains on.
        tower_units: dict. Partition -> tower hidden sizes (heterogeneous towers, MFH §4.3);
            partitions not listed keep the task's `tower_units`.
        base_facet: str. Facet naming the base task (behaviour) on tasks with no facets.
    """
    tasks = check_tasks(tasks)
    partitions = [str(p) for p in partitions]
    include, tower_units = dict(include or {}), dict(tower_units or {})
    _check_partitions(facet, partitions, include, tower_units)
    leaves = []
    for t in tasks:
        if facet in t.facets:
            raise ValueError(f"Task '{t.name}' is already split by facet '{facet}'.")
        facets = dict(t.facets) or {base_facet: t.name}
        for p in partitions:
            members = [p] + [q for q in include.get(p, ()) if q != p]
            clause = f"{column} in {','.join(members)}"
            space = f"{t.sample_space} and {clause}" if t.sample_space else clause
            leaves.append(
                dataclasses.replace(
                    t,
                    name=leaf_name(t.name, p),
                    label=t.label_column,
                    sample_space=space,
                    tower_units=tuple(tower_units.get(p, t.tower_units)),
                    facets={**facets, facet: p},
                )
            )
    return leaves


def _check_partitions(facet: str, partitions: list, include: dict, tower_units: dict) -> None:
    """`include` and `tower_units` name partitions of `facet` only."""
    for name, mapping in (("include", include), ("tower_units", tower_units)):
        unknown = sorted(set(mapping) - set(partitions))
        if unknown:
            raise ValueError(
                f"{name} names partition(s) {unknown} of facet '{facet}', which has {partitions}."
            )
    for p, extra in include.items():
        bad = sorted(set(extra) - set(partitions))
        if bad:
            raise ValueError(
                f"include['{p}'] names partition(s) {bad}; facet '{facet}' has {partitions}."
            )


def facet_groups(tasks, route_facets) -> dict:
    """Group -> the heads that serve it: the map the ranking service routes by.

    `route_facets` is one facet (e.g. `"group"`) or a list; a group's key joins the task's
    partitions of those facets with `.` (e.g. `"high.fresh"`; tasks not split by a later
    route facet key on the earlier ones only, e.g. `"new"`). Heads keep the task order.
    """
    route = [route_facets] if isinstance(route_facets, str) else list(route_facets)
    groups: dict = {}
    for t in check_tasks(tasks):
        parts = [str(t.facets[f]) for f in route if f in t.facets]
        if not parts:
            raise ValueError(
                f"Task '{t.name}' has none of the route facets {route}; its facets: {t.facets}."
            )
        groups.setdefault(LEAF_SEP.join(parts), []).append(t.name)
    return groups


def route(groups: dict, group: str) -> list:
    """The heads serving `group` (see `facet_groups`); a KeyError names the known groups."""
    if group not in groups:
        raise KeyError(f"Unknown group {group!r}. Known groups: {sorted(groups)}")
    return list(groups[group])


def routed_predictions(predictions: dict, row_groups, groups: dict) -> dict:
    """Per base task, each row's prediction from the head of the row's own group (serving).

    Args:
        predictions: head name -> `[N]` scores.
        row_groups: `[N]` group key of every row (e.g. its `activity_group`).
        groups: group -> heads (`facet_groups`); a flat model serving every group with the
            same heads maps each group to its base heads.

    Returns base task name -> `[N]` array (NaN for rows whose group has no head of that base).
    """
    row_groups = np.asarray(row_groups).astype(str)
    n = len(row_groups)
    unknown = sorted(str(g) for g in set(np.unique(row_groups)) - set(groups))
    if unknown:
        raise KeyError(f"Rows of group(s) {unknown} have no heads. Known groups: {sorted(groups)}")
    out: dict = {}
    for group, heads in groups.items():
        rows = row_groups == group
        for head in heads:
            if head not in predictions:
                raise KeyError(
                    f"Group '{group}' routes to head '{head}', which the predictions lack."
                )
            base = base_name(head)
            out.setdefault(base, np.full(n, np.nan, np.float64))[rows] = np.asarray(
                predictions[head]
            ).reshape(-1)[rows]
    return out


def evaluate_by_group(
    base_tasks, predictions: dict, labels: dict, row_groups, groups: dict
) -> dict:
    """Group -> base task -> metrics, each row scored by its own group's head.

    `labels` are the base tasks' labels (NaN outside their space); metrics are those of
    `tfmtl.metrics.evaluate_predictions` (AUC for binary tasks, MSE for regression).
    """
    from tfmtl.metrics import evaluate_predictions

    routed = routed_predictions(predictions, row_groups, groups)
    row_groups = np.asarray(row_groups).astype(str)
    report = {}
    for group in groups:
        rows = row_groups == group
        tasks = [t for t in base_tasks if t.name in routed]
        report[group] = evaluate_predictions(
            tasks,
            {t.name: routed[t.name][rows] for t in tasks},
            {t.name: np.asarray(labels[t.name])[rows] for t in tasks},
        )
    return report
