"""Facet routing in a tfmtl.json contract: which heads a request for a facet group gets.

A request naming a group gets that group's heads only. A request naming none gets
`default_facet_group`'s heads; without one, every head, unless `facet_group_required`: the
heads are facet leaves split by group (MFH, H-MTL), and multiplying one segment's
probabilities by another's means nothing, so such a request is refused.
"""

from __future__ import annotations

from tfmtl.contract_errors import ContractError, UnknownFacetGroup, shown


def facet_routing(
    tasks, groups: dict, default_group: str | None = None, required: bool | None = None
) -> dict:
    """`default_facet_group` and `facet_group_required` for an export with facet `groups`.

    `required` defaults to whether the grouped heads are facet leaves (Tasks with `facets`,
    as MFH and H-MTL build them).

    >>> leaves = [{"name": f"ctr.{g}", "kind": "binary", "facets": {"group": g}}
    ...           for g in ("new", "old")]
    >>> facet_routing(leaves, {"new": ["ctr.new"], "old": ["ctr.old"]})
    {'default_facet_group': None, 'facet_group_required': True}
    """
    facets = {name: f for name, f in (_name_facets(t) for t in tasks)}
    for group, heads in groups.items():
        stray = [h for h in heads if h not in facets]
        if stray:
            raise ContractError(
                f"facet_groups['{group}'] names unknown head(s) {stray}. Tasks: {list(facets)}.",
                f"facet_groups['{group}']",
            )
    if default_group is not None and default_group not in groups:
        raise ContractError(
            f"default_facet_group is not a facet group. Received: {default_group!r}. "
            f"Groups: {sorted(groups)}.",
            "default_facet_group",
        )
    if required is None:
        required = any(facets[h] for heads in groups.values() for h in heads)
    return {"default_facet_group": default_group, "facet_group_required": bool(required)}


def task_names(metadata: dict) -> list[str]:
    """Every head's name, in the model's task order."""
    return [t["name"] for t in metadata.get("tasks") or ()]


def task_kinds(metadata: dict) -> dict:
    """Head name -> `"binary"` or `"regression"`."""
    return {t["name"]: t["kind"] for t in metadata.get("tasks") or ()}


def facet_groups(metadata: dict) -> dict:
    """Facet group -> its heads (`{}` for a model without facet routing)."""
    return {str(g): list(heads) for g, heads in (metadata.get("facet_groups") or {}).items()}


def facet_group_required(metadata: dict) -> bool:
    """Whether a request must name a facet group.

    A file without the key derives it as `facet_routing` does.
    """
    if "facet_group_required" in metadata:
        return bool(metadata["facet_group_required"])
    groups = facet_groups(metadata)
    return (
        bool(groups) and facet_routing(metadata.get("tasks") or (), groups)["facet_group_required"]
    )


def group_heads(metadata: dict, group: str = "", owner: str = "the model") -> list[str]:
    """The heads a request for `group` ("" for none) is served and fused with.

    See the module docstring for the routing rules.

    >>> meta = {"tasks": [{"name": "ctr", "kind": "binary"}, {"name": "like", "kind": "binary"}],
    ...         "facet_groups": {"social": ["like"]}}
    >>> group_heads(meta, "social"), group_heads(meta)
    (['like'], ['ctr', 'like'])
    """
    groups = facet_groups(metadata)
    if group:
        if group not in groups:
            raise UnknownFacetGroup(
                f"facet_group {shown(group)} is not a facet group of {owner}. "
                f"Groups: {sorted(groups)}.",
                "facet_group",
            )
        return groups[group]
    default = metadata.get("default_facet_group")
    if default:
        if default not in groups:
            raise ContractError(
                f"default_facet_group '{default}' of {owner} is not one of its facet groups "
                f"{sorted(groups)}.",
                "default_facet_group",
            )
        return groups[default]
    if groups and facet_group_required(metadata):
        raise ContractError(
            f"facet_group is empty, but {owner} serves one group of heads per request (its heads "
            f"are facet leaves): name one of {sorted(groups)}.",
            "facet_group",
        )
    return task_names(metadata)


def _name_facets(task) -> tuple[str, dict]:
    if isinstance(task, dict):
        return task["name"], dict(task.get("facets") or {})
    return task.name, dict(task.facets)
