"""Tiny data and tiny zoo models for the export tests.

The spec has every feature kind the signature must carry: dense (plain, log1p, missing="mean"),
string and int64 vocabulary features, a hashed string feature and a sequence sharing the
item table; the tasks are two binary heads and one regression head. Models get tiny
hyper-parameters (every unit list -> 4 units, every `num_*` count -> at most 2) and their
weights are jittered so different ids give visibly different scores.
"""

from __future__ import annotations

import numpy as np
import pytest

from tfmtl.data.dataset import build_splits, split_indices
from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec, SequenceFeature
from tfmtl.tasks import Task

ROWS = 300
UNSEEN = {"city": "atlantis", "item": 10**9, "tag": "never-hashed-before"}


def tiny_columns(rows: int = ROWS, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 2)).astype(np.float32)
    return {
        "x0": x[:, 0],
        "x1": x[:, 1],
        "video_len": np.round(np.exp(3.0 + x[:, 1])).astype(np.float32),
        "age": np.where(rng.random(rows) < 0.1, np.nan, rng.uniform(18, 70, rows)).astype(
            np.float32
        ),
        "city": np.array(["paris", "lyon", "nice", "lille"], dtype=object)[
            rng.integers(0, 4, rows)
        ],
        "item": rng.integers(100, 110, rows).astype(np.int64),
        "tag": np.array(["a", "b", "c"], dtype=object)[rng.integers(0, 3, rows)],
        "hist": np.where(rng.random((rows, 3)) < 0.3, 0, rng.integers(100, 110, (rows, 3))).astype(
            np.int64
        ),
        "click": (x[:, 0] > 0).astype(np.float32),
        "buy": ((x[:, 0] > 0) & (x[:, 1] > 0)).astype(np.float32),
        "watch": (x[:, 0] + x[:, 1]).astype(np.float32),
    }


def tiny_spec() -> FeatureSpec:
    return FeatureSpec(
        [
            DenseFeature("x0"),
            DenseFeature("x1"),
            DenseFeature("video_len", transform="log1p"),
            DenseFeature("age", missing="mean"),
            CategoricalFeature("city", embedding_dim=3),
            CategoricalFeature("item", dtype="int64", embedding_dim=3),
            CategoricalFeature("tag", num_hash_bins=5, embedding_dim=2),
            SequenceFeature("hist", max_len=3, share_with="item"),
        ]
    )


def tiny_tasks(tower_units=(4,)) -> list[Task]:
    return [
        Task("ctr", kind="binary", label="click", tower_units=tower_units),
        Task("cvr", kind="binary", label="buy", sample_space="click == 1", tower_units=tower_units),
        Task("watch", kind="regression", tower_units=tower_units),
    ]


@pytest.fixture(scope="session")
def tiny_data():
    return build_splits(
        tiny_columns(), tiny_spec(), tiny_tasks(), split_indices(ROWS, 0), "tiny export data"
    )


def tiny_hparams(defaults: dict) -> dict:
    """Shrink a zoo model's default hyper-parameters: unit lists -> 4 units, counts -> <= 2."""
    out = {}
    for key, value in defaults.items():
        if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
            out[key] = [[4] for _ in value]
        elif isinstance(value, list) and value and all(isinstance(v, int) for v in value):
            out[key] = [4]
        elif (
            isinstance(value, int)
            and not isinstance(value, bool)
            and key.startswith("num_")
            and key != "num_levels"
        ):
            out[key] = min(value, 2)
    return out


def tiny_model(name: str, data, seed: int = 0):
    """Zoo model `name` on `data` with tiny hyper-parameters and jittered weights."""
    import keras

    from tfmtl.models import build_model, default_hparams

    keras.utils.set_random_seed(seed)
    try:
        model = build_model(name, data.spec, data.tasks, **tiny_hparams(default_hparams(name)))
    except (TypeError, ValueError):  # a zoo entry whose hyper-parameters do not shrink this way
        model = build_model(name, data.spec, data.tasks)
    return _jitter(model, seed)


_SMALL = {"num_experts": 2, "expert_units": [4]}


def _facet_tasks() -> list[Task]:
    return [
        Task(
            f"{b}.{g}",
            kind="binary",
            label="click",
            tower_units=(4,),
            facets={"behaviour": b, "group": g},
        )
        for b in ("ctr", "cvr")
        for g in ("new", "old")
    ]


def _tiny_dtrn(spec):
    from tfmtl import models
    from tfmtl.layers import DTRNBottom

    tasks = tiny_tasks()
    tim = {"num_heads": 1, "hyper_units": 4}
    bottom = DTRNBottom(spec, len(tasks), tim=tim, trm_units=4, name="dtrn_bottom")
    switcher = models.make_switcher("mmoe", len(tasks), **_SMALL)
    return models.build_dtrn(spec, tasks, switcher, bottom)


def _macros() -> dict:
    """Macro structure name -> builder(spec): every non-flat structure, tiny (imported lazily)."""
    from tfmtl import models

    funnel = [
        Task("ctr", label="click", tower_units=(4,)),
        Task("cvr", label="buy", sample_space="click == 1", tower_units=(4,)),
        Task("ctcvr", label="buy", tower_units=(4,)),
    ]
    tree = {"switcher": ("mmoe", _SMALL), "branch_units": [4]}
    builders = {
        f"dml_{v}": (
            lambda spec, v=v: models.build_dml_model(
                "mmoe", spec, tiny_tasks(), variant=v, **_SMALL
            )
        )
        for v in getattr(models, "DML_VARIANTS", {})
        if v != "plain"
    }
    builders.update(
        {
            "hmtl": lambda spec: models.build_hmtl(
                spec, _facet_tasks(), ["behaviour", "group"], **tree
            ),
            "mfh": lambda spec: models.build_mfh(
                spec, _facet_tasks(), ["behaviour", "group"], **tree
            ),
            "esmm": lambda spec: models.build_esmm(spec, funnel),
            "aitm": lambda spec: models.build_aitm(spec, [funnel[0], funnel[2]], bottoms=[4]),
            "dtrn": _tiny_dtrn,
        }
    )
    return builders


MACROS = sorted(_macros())


def tiny_macro(name: str, data, seed: int = 0):
    """Macro structure `name` (see `MACROS`) on `data.spec`, tiny layers, jittered weights."""
    import keras

    keras.utils.set_random_seed(seed)
    return _jitter(_macros()[name](data.spec), seed)


def _jitter(model, seed: int):
    rng = np.random.default_rng(seed)
    model.set_weights(
        [w + rng.normal(scale=0.3, size=w.shape).astype(w.dtype) for w in model.get_weights()]
    )
    return model


def batch(data, rows: int, seed: int = 1) -> dict:
    """`rows` raw test rows; every third row carries unseen categorical values, one a NaN age."""
    test = data["test"].features
    idx = np.random.default_rng(seed).integers(0, len(data["test"]), rows)
    columns = {n: np.asarray(v)[idx].copy() for n, v in test.items()}
    unseen = np.arange(rows) % 3 == 2
    if rows == 1:
        unseen[:] = True
    for name, value in UNSEEN.items():
        columns[name][unseen] = value
    columns["hist"][unseen, 0] = UNSEEN["item"]
    columns["age"][0] = np.nan
    return columns
