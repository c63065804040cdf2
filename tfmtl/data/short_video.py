"""A short-video synthetic generator with 2-3 facets: behaviours × user activity × item freshness.

The play-task setup of MFH §3.1: behaviours `finish` (binary, MFH eq 2), `skip` (binary,
eq 3) and `cmpl` (completion ratio, regression, eq 1) on immersive videos, for users in
activity groups `new` / `low` / `high` (few samples for new users, most for high ones) and
items that are `fresh` or `old`.

Each row's latent watch propensity is `z_k = x · w_{k,g,h} + sin(x · w_{k,g,h}) + b_u`, with
`x` the user and item features, `b_u` a per-user bias (learnable from `user_id` for active
users only) and `w_{k,g,h} = normalise(u_0 + a_g · v_g + s_g · t_k + f_h)`: a shared direction,
a group direction, a task direction weighted by the group's task spread `s_g` (new users'
tasks are highly correlated, high-activity users' much less: the task correlations differ by
group) and a freshness direction. Labels: `finish ~ Bernoulli(sigmoid(z_finish))`, `skip ~
Bernoulli(sigmoid(-z_skip - 1))`, `cmpl = clip(2 · sigmoid(z_cmpl) + noise, 0, 2)`.

Leaf tasks (`tfmtl.facets.expand_tasks`): behaviour × group (9 tasks, 2 facets), and with
`facets=3` the groups in `fresh_groups` are further split by freshness (MFH §5.1.6's 12-task
variant with `fresh_groups=("high",)`; all groups give the full 18-task Fig. 8).

Example:

>>> data = load_short_video(rows=3000, facets=3)
>>> [t.name for t in data.tasks][:4]
['finish.new', 'finish.low', 'finish.high.fresh', 'finish.high.old']
"""

from __future__ import annotations

import numpy as np

from tfmtl.data.dataset import build_splits, split_indices
from tfmtl.facets import PAPER_INCLUSION, expand_tasks, facet_partitions
from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec
from tfmtl.tasks import Task

GROUPS = ("new", "low", "high")
FRESHNESS = ("fresh", "old")
GROUP_SHARES = (0.08, 0.22, 0.70)  # share of ROWS (new users watch little)
TASK_SPREAD = {"new": 0.3, "low": 0.8, "high": 1.6}  # small spread: strongly correlated tasks
BEHAVIOURS = (
    Task("finish", kind="binary", label="label_finish", tower_units=(32, 16)),
    Task("skip", kind="binary", label="label_skip", tower_units=(32, 16)),
    Task("cmpl", kind="regression", label="label_cmpl", tower_units=(32, 16)),
)


def short_video_columns(
    rows: int, users: int = 600, items: int = 400, dim: int = 6, seed: int = 0
) -> dict:
    """Raw columns: ids, `u0..`, `i0..`, `video_len`, `activity_group`, `freshness`, labels."""
    if rows < 10 or users < 3 or items < 2:
        raise ValueError(
            f"short_video needs rows >= 10, users >= 3, items >= 2. Received: {rows}, {users}, "
            f"{items}"
        )
    rng = np.random.default_rng(seed)
    user_group = np.repeat(np.arange(3), np.ceil(users * np.array([0.3, 0.3, 0.4])).astype(int))[
        :users
    ]
    # rows per user follow the group's share of rows
    weight = np.asarray(GROUP_SHARES)[user_group] / np.bincount(user_group, minlength=3)[user_group]
    user = rng.choice(users, size=rows, p=weight / weight.sum())
    item = rng.integers(0, items, rows)
    item_fresh = rng.random(items) < 0.25
    user_x, item_x = rng.normal(size=(users, dim)), rng.normal(size=(items, dim))
    x = np.concatenate([user_x[user], item_x[item]], axis=1)
    d = x.shape[1]

    def unit(v):
        return v / np.linalg.norm(v)

    u0 = unit(rng.normal(size=d))
    v = {g: unit(rng.normal(size=d)) for g in GROUPS}
    t = {k.name: unit(rng.normal(size=d)) for k in BEHAVIOURS}
    f = {h: 0.7 * unit(rng.normal(size=d)) for h in FRESHNESS}
    bias = rng.normal(scale=0.8, size=users)
    group = np.asarray(GROUPS)[user_group[user]]
    fresh = np.where(item_fresh[item], "fresh", "old")
    z = {}
    for k in t:
        zk = np.zeros(rows)
        for g in GROUPS:
            for h in FRESHNESS:
                rows_gh = (group == g) & (fresh == h)
                w = unit(u0 + 0.8 * v[g] + TASK_SPREAD[g] * t[k] + f[h]) * 1.5
                s = x[rows_gh] @ w
                zk[rows_gh] = s + np.sin(s)
        z[k] = zk + bias[user] + rng.normal(scale=0.3, size=rows)

    def sigmoid(a):
        return 1.0 / (1.0 + np.exp(-a))

    return {
        "user_id": user.astype(np.int64),
        "item_id": item.astype(np.int64),
        **{f"u{i}": user_x[user, i].astype(np.float32) for i in range(dim)},
        **{f"i{i}": item_x[item, i].astype(np.float32) for i in range(dim)},
        "video_len": np.round(np.exp(3.5 + 0.6 * rng.normal(size=items)))[item].astype(np.float32),
        "activity_group": group,
        "freshness": fresh,
        "label_finish": (rng.random(rows) < sigmoid(z["finish"])).astype(np.float32),
        "label_skip": (rng.random(rows) < sigmoid(-z["skip"] - 1.0)).astype(np.float32),
        "label_cmpl": np.clip(
            2.0 * sigmoid(z["cmpl"]) + rng.normal(scale=0.1, size=rows), 0.0, 2.0
        ).astype(np.float32),
    }


def short_video_tasks(
    facets: int = 2, fresh_groups=("high",), include: dict | None = None
) -> list[Task]:
    """Leaf tasks: behaviour × group, and with `facets=3` × freshness for `fresh_groups`."""
    if facets not in (2, 3):
        raise ValueError(f"short_video has 2 or 3 facets. Received: facets={facets}")
    leaves = expand_tasks(
        list(BEHAVIOURS), "group", GROUPS, column="activity_group", include=include
    )
    if facets == 2:
        return leaves
    unknown = sorted(set(fresh_groups) - set(GROUPS))
    if unknown:
        raise ValueError(
            f"fresh_groups names unknown group(s) {unknown}; groups are {list(GROUPS)}"
        )
    out = []
    for t in leaves:
        if t.facets["group"] in fresh_groups:
            out.extend(expand_tasks([t], "freshness", FRESHNESS, column="freshness"))
        else:
            out.append(t)
    return out


def load_short_video(
    rows: int = 20_000,
    facets: int = 2,
    fresh_groups=("high",),
    include: dict | None = PAPER_INCLUSION,
    seed: int = 0,
):
    """The generator as `MultiTaskData` with leaf tasks (60/20/20 split by `seed`).

    `activity_group` and `freshness` are model features (a ranker knows them) and also ride
    in every split's extras for routing and per-group metrics; `include` is MFH §5.1.4's group
    sample inclusion (default on; `None` trains each leaf on its own group only).
    """
    columns = short_video_columns(rows, seed=seed)
    tasks = short_video_tasks(facets, fresh_groups, include)
    dim = sum(1 for c in columns if c.startswith("u") and c[1:].isdigit())
    spec = FeatureSpec(
        [
            CategoricalFeature("user_id", embedding_dim=8, dtype="int64"),
            CategoricalFeature("item_id", embedding_dim=8, dtype="int64"),
        ]
        + [DenseFeature(f"u{i}") for i in range(dim)]
        + [DenseFeature(f"i{i}") for i in range(dim)]
        + [
            DenseFeature("video_len", transform="log1p"),
            CategoricalFeature("activity_group", embedding_dim=2),
            CategoricalFeature("freshness", embedding_dim=2),
        ]
    )
    indices = split_indices(rows, seed)
    data = build_splits(columns, spec, tasks, indices, "short_video")
    extras = ("activity_group", "freshness", "label_finish", "label_skip", "label_cmpl")
    for name, idx in indices.items():
        data.splits[name].extras = {k: np.asarray(columns[k])[idx] for k in extras}
    parts = facet_partitions(tasks)
    data.description = (
        f"short-video synthetic: {rows:,} rows, {len(tasks)} leaf tasks over facets "
        f"{ {f: len(p) for f, p in parts.items()} }, inclusion {include}, seed {seed}"
    )
    return data
