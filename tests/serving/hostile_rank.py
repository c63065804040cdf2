"""Hostile Rank requests: names, ids, features, fusion and routing the service refuses."""

from __future__ import annotations

import numpy as np

from tests.serving.hostile import (
    DEADLINE,
    HUGE,
    INVALID,
    NOT_FOUND,
    cases,
    columns,
    floats,
    rank,
)


def candidate(i, name, **value):
    """Set candidates[i] (None: all) features[name] to one FeatureValue field (`float_value=1`)."""

    def edit(request):
        for c in request.candidates if i is None else [request.candidates[i]]:
            for key, v in value.items():
                if key.endswith("_list"):
                    getattr(c.features[name], key).value.extend(v)
                else:
                    setattr(c.features[name], key, v)

    return edit


def drop(name):
    return lambda request: [c.features.pop(name) for c in request.candidates]


def fusion(**fields):
    def edit(request):
        for key, value in fields.items():
            if key == "weights":
                request.fusion.weights.update(value)
            elif key == "length_feature":
                request.fusion.length_feature.value = value
            else:
                setattr(request.fusion, key, value)

    return rank(edit)


def ids(*values):
    def edit(request):
        for c, value in zip(request.candidates, values):
            c.id = value

    return rank(edit)


def context(**changes):
    return lambda r: r.rank(context={**r.context, **changes})


RANK = cases(
    "Rank",
    ("model-name-empty", rank(lambda q: setattr(q, "model_name", "")), INVALID, ("model_name",)),
    (
        "model-name-100kb",
        rank(lambda q: setattr(q, "model_name", HUGE)),
        NOT_FOUND,
        ("(100000 chars)",),
    ),
    ("version-unknown", rank(version=2**62), NOT_FOUND, (f"version {2**62}",)),
    ("columns-without-ids", columns(ids=[]), INVALID, ("candidates is empty",)),
    (
        "candidates-over-max",
        lambda r: r.rank(candidates=[r.candidates["item0"]] * 5_001),
        INVALID,
        ("candidates", "5,001", "5,000"),
    ),
    (
        "column-ids-over-max",
        rank(candidates={}, columns={"x9": np.zeros(5_001)}),
        INVALID,
        ("candidate_columns.ids", "5,001"),
    ),
    (
        "ids-duplicate",
        ids("a", "b", "c", "d", "c"),
        INVALID,
        ("candidates[4].id 'c'", "candidates[2].id"),
    ),
    # Pins: the field was written "candidates[].id[1]".
    (
        "ids-empty-collides-with-position",
        ids("1", ""),
        INVALID,
        ("candidates[1].id is empty", "'1'", "candidates[0].id"),
    ),
    (
        "column-ids-position-collides",
        columns(ids=["", "0", "b", "c", "d", "e"]),
        INVALID,
        ("candidate_columns.ids[1] '0'", "candidate_columns.ids[0]"),
    ),
    ("ids-100kb-duplicate", ids(HUGE, HUGE), INVALID, ("candidates[1].id", "(100000 chars)")),
    ("top-k-negative", rank(top_k=-5), INVALID, ("top_k", "-5")),
    ("fusion-kind-99", fusion(kind=99), INVALID, ("fusion.kind 99",)),
    ("fusion-kind-negative", fusion(kind=-1), INVALID, ("fusion.kind -1",)),
    ("length-transform-77", fusion(length_transform=77), INVALID, ("fusion.length_transform 77",)),
    (
        "weight-nan",
        fusion(weights={"click": float("nan")}),
        INVALID,
        ("fusion.weights['click']", "nan"),
    ),
    (
        "weight-minus-inf",
        fusion(weights={"finish": float("-inf")}),
        INVALID,
        ("fusion.weights['finish']", "-inf"),
    ),
    # Pins: finite weights whose product overflowed ranked every candidate at +inf.
    (
        "weight-finite-overflow",
        fusion(weights={"click": -1e30}),
        INVALID,
        ("fusion gives candidates[0]", "inf", "keep every score finite"),
    ),
    (
        "weight-100kb-task",
        fusion(weights={HUGE: 1.0}),
        INVALID,
        ("fusion.weights[", "(100000 chars)"),
    ),
    (
        "length-feature-unknown",
        fusion(length_feature="video_length"),
        INVALID,
        ("fusion.length_feature 'video_length'",),
    ),
    (
        "length-feature-string-input",
        fusion(length_feature="segment"),
        INVALID,
        ("fusion.length_feature 'segment'", "string"),
    ),
    (
        "length-feature-string-extra",
        rank(candidate(None, "dur", string_value="long"), fusion={"length_feature": "dur"}),
        INVALID,
        ("candidates[0]", "'dur'", "string_value"),
    ),
    (
        "length-feature-nan",
        rank(candidate(2, "video_len", float_value=np.nan), fusion={"length_feature": "video_len"}),
        INVALID,
        ("'video_len'", "row 2", "nan"),
    ),
    (
        "string-for-float",
        rank(candidate(5, "x12", string_value="12s")),
        INVALID,
        ("candidates[5]", "'x12'", "string_value"),
    ),
    (
        "sequence-for-scalar",
        rank(candidate(0, "x10", float_list=[1.0, 2.0])),
        INVALID,
        ("candidates[0]", "'x10'", "float_list"),
    ),
    (
        "feature-without-value",
        rank(lambda q: q.candidates[1].features["x9"].Clear()),
        INVALID,
        ("candidates[1]", "'x9'", "no value"),
    ),
    (
        "feature-unknown",
        rank(candidate(None, "zz", float_value=1.0)),
        INVALID,
        ("'zz'", "not an input"),
    ),
    ("feature-missing", rank(drop("video_len")), INVALID, ("'video_len'", "missing")),
    # Pins: the odd feature names were listed uncut (100 KB, cut only by the 2,000-char cap).
    (
        "feature-name-100kb",
        rank(candidate(0, HUGE, float_value=1.0)),
        INVALID,
        ("differ", "(100000 chars)"),
    ),
    (
        "feature-nan",
        rank(candidate(3, "x9", float_value=np.nan)),
        INVALID,
        ("'x9'", "row 3", "nan"),
    ),
    ("context-inf", context(x0=np.inf), INVALID, ("'x0'", "inf")),
    (
        "context-int-for-string",
        context(segment=2),
        INVALID,
        ("context_features['segment']", "int64_value"),
    ),
    (
        "context-name-100kb",
        context(**{HUGE: 1.0}),
        INVALID,
        ("context_features[", "(100000 chars)"),
    ),
    ("rows-and-columns", rank(columns={"x9": np.zeros(6)}), INVALID, ("not both",)),
    (
        "column-too-long",
        columns(x9=np.zeros(7, np.float32)),
        INVALID,
        ("candidate_columns.features['x9']", "7 values"),
    ),
    (
        "column-strings-for-float",
        columns(x11=np.array(list("abcdef"))),
        INVALID,
        ("candidate_columns.features['x11']", "string_list"),
    ),
    ("column-unknown", columns(zz=np.zeros(6)), INVALID, ("candidate_columns.features['zz']",)),
    ("column-missing", columns(x9=None), INVALID, ("'x9'", "missing")),
    ("column-nan", columns(x9=floats(np.nan, 2).repeat(2)), INVALID, ("'x9'", "row 4", "nan")),
    ("facet-group-unknown", rank(facet_group="Engaged"), NOT_FOUND, ("facet_group 'Engaged'",)),
    ("facet-group-100kb", rank(facet_group=HUGE), NOT_FOUND, ("facet_group", "(100000 chars)")),
    ("fusion-variant-unknown", rank(fusion_variant="b"), NOT_FOUND, ("fusion_variant 'b'",)),
    ("signature-100kb", rank(signature_name=HUGE), NOT_FOUND, ("signature_name", "(100000 chars)")),
    (
        "examples-signature-garbage",
        rank(
            context={},
            candidates=[{"examples": "ÿ not an example"}] * 2,
            signature_name="serving_examples",
        ),
        INVALID,
        ("'examples'",),
    ),
    ("deadline-1ms", rank(), DEADLINE, (), 0.001),
)
