"""How the tfmtl.json contract reports what breaks it: `ContractError`, and values quoted short."""

from __future__ import annotations

MAX_SHOWN_CHARS = 64  # a request's value is quoted in a message up to this many characters


class ContractError(ValueError):
    """A document, fusion or facet group that breaks the contract; `field` names the culprit.

    Example:

    >>> try:
    ...     tfmtl.contract.validate_fusion({"kind": "max", "weights": {}})
    ... except ContractError as e:
    ...     print(e.field, "|", e)
    fusion.kind | fusion.kind must be one of ('product', 'weighted_sum'). Received: 'max'.
    """

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field


class UnknownFacetGroup(ContractError, LookupError):
    """A `facet_group` the model does not have (serving answers NOT_FOUND)."""


def short_repr(value) -> str:
    """`repr(value)`, cut to 60 characters, for a message about a document's field."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def shown(value, limit: int = MAX_SHOWN_CHARS) -> str:
    """A request's value quoted for a message, cut to `limit` characters.

    >>> shown("ctr"), shown("x" * 100)
    ("'ctr'", "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' (100 chars)")
    """
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if len(text) > limit:
        return f"'{text[:limit]}...' ({len(text)} chars)"
    return f"'{text}'"
