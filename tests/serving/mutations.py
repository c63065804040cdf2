"""Mutations of valid Predict and Rank requests for the fuzz suite (tests/serving/test_fuzz.py).

Each mutation changes a request in place from a numpy Generator; case `i` of a run draws from
`np.random.default_rng([SEED, i])`, so `fuzz_predict(wire.Requests(data), i)` (or `fuzz_rank`)
rebuilds any case that failed.
"""

from __future__ import annotations

import numpy as np
from tensorflow.core.framework import types_pb2

from tfmtl.serving.errors import ServingError
from tfmtl.serving.tensors import to_ndarray, to_tensor_proto

SEED = 20_250_611
TASKS = ["click", "finish", "watch_time"]
NAMES = [
    "x0",
    "x9",
    "segment",
    "video_len",
    "examples",
    "engaged",
    "ple",
    "serving_examples",
    *TASKS,
]
SPECIAL = [np.nan, np.inf, -np.inf, 3.4e38, -3.4e38, 1e-45, 0.0, -0.0, 1.0]
DIMS = [-(2**63), -1, 0, 1, 2, 3, 4, 10_001, 2**31, 2**62, 2**63 - 1]
DTYPES = [*types_pb2.DataType.values(), -1, 12_345]
VALUE_FIELDS = ["float_val", "double_val", "int64_val", "int_val", "string_val", "bool_val"]


def pick(rng, items):
    items = list(items)
    return items[int(rng.integers(len(items)))]


def key_of(rng, mapping):
    """A key of `mapping`; of an empty one, a known name (indexing it adds an empty value)."""
    return pick(rng, mapping) if len(mapping) else pick(rng, NAMES)


def text(rng) -> str:
    """A hostile string: empty, 10 KB, unicode below the surrogates, latin-1, or a known name."""
    kind = rng.integers(5)
    if kind == 0:
        return ""
    if kind == 1:
        return "z" * 10_000
    if kind == 2:
        return "".join(map(chr, rng.integers(0, 0xD7FF, size=rng.integers(1, 12))))
    if kind == 3:
        return rng.bytes(int(rng.integers(1, 16))).decode("latin-1")
    return pick(rng, NAMES)


def raw(rng) -> bytes:
    return rng.bytes(int(rng.integers(0, 64))) if rng.integers(2) else text(rng).encode()


def number(rng) -> float:
    if rng.integers(2):
        return pick(rng, SPECIAL)
    return float(rng.normal() * 10.0 ** rng.integers(-3, 40))


# -- Predict mutations: each changes a PredictRequest in place ------------------------------------
def p_dtype(r, rng):
    r.inputs[key_of(rng, r.inputs)].dtype = pick(rng, DTYPES)


def p_dims(r, rng):
    """Add, remove or set a dimension: negative, zero, huge."""
    dims = r.inputs[key_of(rng, r.inputs)].tensor_shape.dim
    op = rng.integers(3)
    if op == 0 or not dims:
        dims.add(size=pick(rng, DIMS))
    elif op == 1:
        del dims[int(rng.integers(len(dims)))]
    else:
        dims[int(rng.integers(len(dims)))].size = pick(rng, DIMS)


def p_unknown_rank(r, rng):
    r.inputs[key_of(rng, r.inputs)].tensor_shape.unknown_rank = True


def p_truncate(r, rng):
    proto = r.inputs[key_of(rng, r.inputs)]
    proto.tensor_content = proto.tensor_content[: int(rng.integers(len(proto.tensor_content) + 1))]


def p_random_content(r, rng):
    r.inputs[key_of(rng, r.inputs)].tensor_content = raw(rng)


def p_special_values(r, rng):
    """NaN, Inf, float32 max and denormals as an input's content (as many as its rows, up to 16)."""
    proto = r.inputs[key_of(rng, r.inputs)]
    rows = proto.tensor_shape.dim[0].size if proto.tensor_shape.dim else 1
    values = np.array([number(rng) for _ in range(max(0, min(rows, 16)))])
    with np.errstate(over="ignore"):  # 1e39 becomes inf: one more hostile value
        proto.tensor_content = values.astype(np.float32).tobytes()


def p_value_field(r, rng):
    """An input's values moved to a typed field, maybe of another kind (int64_val, bool_val...)."""
    proto = r.inputs[key_of(rng, r.inputs)]
    proto.ClearField("tensor_content")
    proto.ClearField("string_val")
    field, count = pick(rng, VALUE_FIELDS), int(rng.integers(0, 5))
    if field == "string_val":
        values = [raw(rng) for _ in range(count)]
    elif field == "bool_val":
        values = [True] * count
    elif field in ("float_val", "double_val"):
        values = [number(rng) for _ in range(count)]
    else:
        values = [int(v) for v in rng.integers(-(2**31), 2**31, size=count)]
    getattr(proto, field).extend(values)


def p_strings(r, rng):
    """A string input gets hostile values: non-UTF-8, empty, 10 KB, any unicode."""
    proto = r.inputs["examples" if "examples" in r.inputs else "segment"]
    rows = len(proto.string_val) or 3
    proto.ClearField("string_val")
    proto.string_val.extend(raw(rng) for _ in range(rows))


def p_drop(r, rng):
    r.inputs.pop(key_of(rng, r.inputs))


def p_rename(r, rng):
    proto = r.inputs.pop(key_of(rng, r.inputs))
    r.inputs[text(rng)].CopyFrom(proto)


def p_duplicate(r, rng):
    """One input's tensor also under another key, known or not."""
    proto = r.inputs[key_of(rng, r.inputs)]
    r.inputs[key_of(rng, r.inputs) if rng.integers(2) else text(rng)].CopyFrom(proto)


def p_resize(r, rng):
    """One input gets another batch size (shape and content agreeing)."""
    name = key_of(rng, r.inputs)
    try:
        array = to_ndarray(r.inputs[name], name)
    except ServingError:  # an earlier mutation broke it already
        return
    if array.ndim == 1:
        rows = pick(rng, [0, 1, 2, 4, 50])
        r.inputs[name].CopyFrom(to_tensor_proto(np.resize(array, rows)))


def p_model_spec(r, rng):
    field = pick(rng, ["name", "version", "version_label", "signature_name"])
    if field == "version":
        r.model_spec.version.value = pick(rng, DIMS)
    else:
        setattr(r.model_spec, field, text(rng))


def p_output_filter(r, rng):
    for _ in range(rng.integers(1, 4)):
        r.output_filter.append(pick(rng, TASKS) if rng.integers(2) else text(rng))


def p_examples(r, rng):
    """Switch to serving_examples: with garbage examples, or with the feature inputs."""
    r.model_spec.signature_name = "serving_examples"
    if rng.integers(2):
        r.ClearField("inputs")
        examples = np.array([raw(rng) for _ in range(3)], object)
        r.inputs["examples"].CopyFrom(to_tensor_proto(examples))


PREDICT_MUTATIONS = [
    p_dtype,
    p_dims,
    p_unknown_rank,
    p_truncate,
    p_random_content,
    p_special_values,
    p_value_field,
    p_strings,
    p_drop,
    p_rename,
    p_duplicate,
    p_resize,
    p_model_spec,
    p_output_filter,
    p_examples,
]


# -- Rank mutations: each changes a RankRequest in place ------------------------------------------
def features_of(r, rng):
    """The context's feature map or a candidate's."""
    return pick(rng, [r.context_features] + [c.features for c in r.candidates])


def set_random_value(fv, rng) -> None:
    """Any FeatureValue kind, with hostile contents; or no value at all."""
    kind = rng.integers(7)
    if kind == 0:
        fv.float_value = number(rng)
    elif kind == 1:
        fv.int64_value = int(rng.integers(-(2**63), 2**63 - 1))
    elif kind == 2:
        fv.string_value = text(rng)
    elif kind == 3:
        fv.float_list.value.extend(number(rng) for _ in range(rng.integers(0, 4)))
    elif kind == 4:
        fv.int64_list.value.extend(int(v) for v in rng.integers(-9, 9, size=rng.integers(0, 4)))
    elif kind == 5:
        fv.string_list.value.extend(text(rng) for _ in range(rng.integers(0, 4)))
    else:
        fv.Clear()


def r_enums(r, rng):
    value = pick(rng, [-1, 0, 1, 2, 3, 4, 77, 2**31 - 1, -(2**31)])
    setattr(r.fusion, pick(rng, ["kind", "length_transform"]), value)


def r_weights(r, rng):
    r.fusion.weights[pick(rng, TASKS) if rng.integers(2) else text(rng)] = number(rng)
    r.fusion.replace_weights = bool(rng.integers(2))


def r_length_feature(r, rng):
    r.fusion.length_feature.value = pick(rng, ["dur", *NAMES]) if rng.integers(2) else text(rng)


def r_value(r, rng):
    features = features_of(r, rng)
    set_random_value(features[key_of(rng, features) if rng.integers(4) else pick(rng, NAMES)], rng)


def r_special(r, rng):
    features = features_of(r, rng)
    floats = [k for k, v in features.items() if v.WhichOneof("kind") == "float_value"]
    if floats:
        features[pick(rng, floats)].float_value = pick(rng, SPECIAL)


def r_drop(r, rng):
    """A feature gone from one map, or from every map."""
    if rng.integers(2):
        name = pick(rng, ["x9", "video_len", "x0", "segment"])
        for features in [r.context_features] + [c.features for c in r.candidates]:
            features.pop(name, None)
    else:
        features = features_of(r, rng)
        features.pop(key_of(rng, features), None)


def r_rename(r, rng):
    features = features_of(r, rng)
    if len(features):
        value = features.pop(key_of(rng, features))
        features[text(rng)].CopyFrom(value)


def r_duplicate(r, rng):
    """A candidate feature also in the context; with columns, a context feature as a column too."""
    if r.candidates and len(r.candidates[0].features):
        name = key_of(rng, r.candidates[0].features)
        r.context_features[name].CopyFrom(r.candidates[0].features[name])
    elif len(r.context_features):
        column = r.candidate_columns.features[key_of(rng, r.context_features)]
        column.float_list.value.extend([0.5] * len(r.candidate_columns.ids))


def r_ids(r, rng):
    """Ids made empty, duplicated, positional ("0", "1") or hostile strings."""
    ids = [c.id for c in r.candidates] or list(r.candidate_columns.ids)
    for _ in range(rng.integers(1, 3)):
        if ids:
            ids[int(rng.integers(len(ids)))] = pick(rng, [text(rng), ids[0], "", "0", "1"])
    if r.candidates:
        for c, cid in zip(r.candidates, ids):
            c.id = cid
    else:
        del r.candidate_columns.ids[:]
        r.candidate_columns.ids.extend(ids)


def r_fields(r, rng):
    setattr(
        r,
        pick(rng, ["model_name", "facet_group", "fusion_variant", "signature_name", "traffic_key"]),
        text(rng),
    )


def r_numbers(r, rng):
    if rng.integers(2):
        r.top_k = int(rng.integers(-(2**31), 2**31))
    else:
        r.model_version.value = pick(rng, DIMS)


def r_count(r, rng):
    """Fewer or more candidates, up to just over the limit."""
    n = pick(rng, [0, 1, 2, 7, 60, 5_001])
    if r.candidates:
        first = r.candidates[0]
        del r.candidates[:]
        r.candidates.extend([first] * n)
    else:
        del r.candidate_columns.ids[:]
        r.candidate_columns.ids.extend(str(i) for i in range(n))


def r_columns(r, rng):
    """A column gets too short, too long, or strings besides."""
    columns = r.candidate_columns.features
    if not len(columns):
        return
    column, op = columns[key_of(rng, columns)], rng.integers(3)
    if op == 0 and column.WhichOneof("kind") == "float_list":
        del column.float_list.value[int(rng.integers(len(column.float_list.value) + 1)) :]
    elif op == 1 and column.WhichOneof("kind") == "float_list":
        column.float_list.value.extend(number(rng) for _ in range(rng.integers(1, 4)))
    else:
        column.string_list.value.extend(text(rng) for _ in range(len(r.candidate_columns.ids)))


def r_swap(r, rng):
    """Candidates given both ways, or only a stray row left of the columns."""
    if r.candidates:
        r.candidate_columns.ids.extend(str(i) for i in range(len(r.candidates)))
        r.candidate_columns.features["x9"].float_list.value.extend([0.5] * len(r.candidates))
    else:
        r.candidates.add(id="0").features["x9"].float_value = 0.5
        if rng.integers(2):
            r.ClearField("candidate_columns")


RANK_MUTATIONS = [
    r_enums,
    r_weights,
    r_length_feature,
    r_value,
    r_special,
    r_drop,
    r_rename,
    r_duplicate,
    r_ids,
    r_fields,
    r_numbers,
    r_count,
    r_columns,
    r_swap,
]


def mutate(base, mutations, index: int, seed: int = SEED):
    """`base` copied and changed by the 1-3 mutations of case `index`: (request, their names)."""
    rng = np.random.default_rng([seed, index])
    request = type(base)()
    request.CopyFrom(base)
    chosen = [pick(rng, mutations) for _ in range(rng.integers(1, 4))]
    for mutation in chosen:
        mutation(request, rng)
    return request, [m.__name__ for m in chosen]


def fuzz_predict(requests, index: int, seed: int = SEED):
    return mutate(requests.predict(), PREDICT_MUTATIONS, index, seed)


def fuzz_rank(requests, index: int, seed: int = SEED):
    base = requests.rank() if index % 3 else requests.columns()
    return mutate(base, RANK_MUTATIONS, index, seed)
