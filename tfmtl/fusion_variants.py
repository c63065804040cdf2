"""Fusion variants: several named fusions in one export, and a traffic split between them.

tfmtl.json may hold `fusion_variants`, `{name: fusion}` (each complete, as the `fusion` key
is), and `fusion_traffic`, `{name: share}`. The name `"default"` always stands for the
document's own `fusion`. A Rank request names a variant (`fusion_variant`), or gives a
`traffic_key` (a user id, say) that a stable hash maps onto the shares, so one key gets one
variant on every replica and after every restart; without either it gets `"default"`. The
request's own `fusion` override applies on top of the chosen variant.

At export, variants are overrides of the model's default fusion, as `fusion` itself is:

>>> tasks = [{"name": "ctr", "kind": "binary"}, {"name": "cvr", "kind": "binary"}]
>>> variants = {"cvr_heavy": {"weights": {"cvr": 2.0}}}
>>> doc = check_variants(variants, {"default": 0.9, "cvr_heavy": 0.1}, tasks)
>>> doc["fusion_variants"]["cvr_heavy"]["weights"], doc["fusion_traffic"]
({'ctr': 1.0, 'cvr': 2.0}, {'default': 0.9, 'cvr_heavy': 0.1})
>>> pick(doc["fusion_traffic"], "ple", "user-42") in ("default", "cvr_heavy")
True
"""

from __future__ import annotations

import hashlib
import math

from tfmtl import contract
from tfmtl.contract import ContractError

DEFAULT = "default"


def check_variants(
    variants: dict | None,
    traffic: dict | None,
    tasks,
    dense_features=None,
    entire_space_task: str | None = None,
) -> dict:
    """`fusion_variants` (each override completed over the default fusion) and `fusion_traffic`,
    checked.
    """
    if variants is None and traffic is None:
        return {}
    if not isinstance(variants or {}, dict):
        raise ContractError(
            f"fusion variants must map names to fusions. Received: {type(variants).__name__}.",
            "fusion_variants",
        )
    full = {}
    for name, fusion in (variants or {}).items():
        _check_name(name)
        try:
            full[name] = contract.check_fusion(fusion, tasks, dense_features, entire_space_task)
        except ContractError as e:
            raise ContractError(
                f"fusion_variants['{name}']: {e}", f"fusion_variants['{name}']"
            ) from None
    return {"fusion_variants": full, "fusion_traffic": _check_traffic(traffic or {}, full)}


def variants(metadata: dict) -> dict:
    """A tfmtl.json document's variants, `"default"` included: name -> checked fusion dict."""
    found = {DEFAULT: contract.metadata_fusion(metadata)}
    given = metadata.get("fusion_variants") or {}
    if not isinstance(given, dict):
        raise ContractError(
            "fusion_variants must be an object of name -> fusion.", "fusion_variants"
        )
    tasks = contract.task_names(metadata)
    for name, fusion in given.items():
        _check_name(name)
        if not isinstance(fusion, dict):
            raise ContractError(
                f"fusion_variants['{name}'] must be an object.", f"fusion_variants['{name}']"
            )
        try:
            found[name] = contract.validate_fusion(fusion)
        except ContractError as e:
            raise ContractError(
                f"fusion_variants['{name}']: {e}", f"fusion_variants['{name}']"
            ) from None
        stray = [t for t in found[name]["weights"] if tasks and t not in tasks]
        if stray:
            raise ContractError(
                f"fusion_variants['{name}'].weights names unknown task(s) {stray}. Tasks: {tasks}.",
                f"fusion_variants['{name}']",
            )
    return found


def traffic(metadata: dict) -> dict:
    """A document's `fusion_traffic`, checked against its variants (`{}`: no split)."""
    return _check_traffic(metadata.get("fusion_traffic") or {}, variants(metadata))


def pick(shares: dict, model_name: str, key: str) -> str:
    """The variant `key` falls in: blake2b of `model:key` as a point in [0, 1) over the shares, in
    name order.
    """
    digest = hashlib.blake2b(f"{model_name}:{key}".encode(), digest_size=8).digest()
    point = int.from_bytes(digest, "big") / 2.0**64 * sum(shares.values())
    for name in sorted(shares):
        point -= shares[name]
        if point < 0:
            return name
    return max(sorted(shares), key=shares.get)  # float rounding at the top end


def _check_traffic(traffic, known: dict) -> dict:
    if not isinstance(traffic, dict):
        raise ContractError(
            f"fusion traffic must map variant names to shares. Received: {type(traffic).__name__}.",
            "fusion_traffic",
        )
    for name, share in traffic.items():
        if name != DEFAULT and name not in known:
            raise ContractError(
                f"fusion_traffic['{name}'] names no variant. Variants: "
                f"{[DEFAULT, *sorted(known)]}.",
                f"fusion_traffic['{name}']",
            )
        if (
            isinstance(share, bool)
            or not isinstance(share, (int, float))
            or not math.isfinite(share)
            or share < 0
        ):
            raise ContractError(
                f"fusion_traffic['{name}'] must be a number >= 0. Received: {share!r}.",
                f"fusion_traffic['{name}']",
            )
    if traffic and sum(traffic.values()) <= 0:
        raise ContractError(
            "fusion_traffic shares add up to 0; give at least one variant a share.",
            "fusion_traffic",
        )
    return {name: float(share) for name, share in traffic.items()}


def _check_name(name) -> None:
    if not isinstance(name, str) or not name or name == DEFAULT:
        raise ContractError(
            f"A fusion variant needs a name other than '{DEFAULT}' (the model's own fusion). "
            f"Received: {name!r}.",
            "fusion_variants",
        )
