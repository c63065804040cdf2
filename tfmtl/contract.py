"""The tfmtl.json contract: what an export tells a ranking service, and its checks (no TensorFlow).

Export writes `BASE/NAME/VERSION/assets.extra/tfmtl.json` (`metadata_path`), serving reads
it (`read_metadata`, `parse_metadata`). Format 1, key by key (`SCHEMA`):

- `format`: `1`. `model`: `name`, `version`, `class`, `zoo`, `family`.
- `tasks`: `[{name, kind, facets, loss_weight}]`, kind in `TASK_KINDS`: every head, by name.
- `features`: `[{name, kind, dtype, shape, sample_values, padding}]`, one per raw input;
  `sample_values` are a few valid raw values (a sequence's element values), `padding` a
  sequence's pad value.
- `fusion`: `{kind, weights, length_feature, length_transform}`, the default fusion
  (PLE eq 1: `score = prod_k p_k^w_k * f(length)`, or `(sum_k w_k p_k) * f(length)`).
- `entire_space_task`: the head that already is the entire-space conversion (ESMM's
  pCTCVR = pCTR x pCVR, AITM's last funnel step), which the default fusion uses alone.
- `facet_groups`: group -> its heads (MFH facet routing); `default_facet_group`: the group
  a request naming none gets; `facet_group_required`: whether a request must name one.
- `metrics`, `versions`: training metrics and library versions, for people.

Readers ignore keys they do not know, so keys are added within format 1; a key an older
file lacks takes its default here.

Facet routing (`group_heads`): a request naming a group gets that group's heads only, and
the default fusion restricted to them. A request naming none gets `default_facet_group`'s
heads; without one, every head, unless `facet_group_required`: the heads are facet leaves
split by group (MFH, H-MTL), and multiplying one segment's probabilities by another's means
nothing, so such a request is refused.

Example:

>>> tasks = [{"name": "ctr", "kind": "binary"}, {"name": "cvr", "kind": "binary"},
...          {"name": "ctcvr", "kind": "binary"}]
>>> default_fusion(tasks)["weights"]
{'ctr': 1.0, 'cvr': 1.0, 'ctcvr': 1.0}
>>> default_fusion(tasks, entire_space_task="ctcvr")["weights"]
{'ctr': 0.0, 'cvr': 0.0, 'ctcvr': 1.0}
>>> metadata_path("models/ranker/3").as_posix()
'models/ranker/3/assets.extra/tfmtl.json'
"""

from __future__ import annotations

# The contract lives in four modules, one concept each; every name is importable from here.
from tfmtl.contract_documents import (
    ASSETS_EXTRA,
    FEATURE_KINDS,
    FEATURE_SCHEMA,
    FORMAT,
    FUSION_SCHEMA,
    METADATA_FILE,
    MODEL_SCHEMA,
    SCHEMA,
    TASK_KINDS,
    TASK_SCHEMA,
    metadata_path,
    parse_metadata,
    read_metadata,
)
from tfmtl.contract_errors import MAX_SHOWN_CHARS, ContractError, UnknownFacetGroup, shown
from tfmtl.contract_facets import (
    facet_group_required,
    facet_groups,
    facet_routing,
    group_heads,
    task_kinds,
    task_names,
)
from tfmtl.contract_fusion import (
    ENTIRE_SPACE_FAMILIES,
    FUSION_KEYS,
    FUSION_KINDS,
    LENGTH_TRANSFORMS,
    check_fusion,
    default_fusion,
    entire_space_task,
    metadata_fusion,
    validate_fusion,
)

__all__ = [
    "ASSETS_EXTRA",
    "ENTIRE_SPACE_FAMILIES",
    "FEATURE_KINDS",
    "FEATURE_SCHEMA",
    "FORMAT",
    "FUSION_KEYS",
    "FUSION_KINDS",
    "FUSION_SCHEMA",
    "LENGTH_TRANSFORMS",
    "MAX_SHOWN_CHARS",
    "METADATA_FILE",
    "MODEL_SCHEMA",
    "SCHEMA",
    "TASK_KINDS",
    "TASK_SCHEMA",
    "ContractError",
    "UnknownFacetGroup",
    "check_fusion",
    "default_fusion",
    "entire_space_task",
    "facet_group_required",
    "facet_groups",
    "facet_routing",
    "group_heads",
    "metadata_fusion",
    "metadata_path",
    "parse_metadata",
    "read_metadata",
    "shown",
    "task_kinds",
    "task_names",
    "validate_fusion",
]
