"""A click -> conversion funnel generator for ESMM/AITM: impressions, clicks (~5%), conversions.

Every impression (user, item, context) gets a true click probability and a true conversion
probability *if clicked*; a click is drawn from the first and, for every impression, a
counterfactual conversion `cvr_if_clicked` from the second. Only clicked impressions reveal
it: `conversion = click · cvr_if_clicked`. Clicks and conversions share some causes (user
activity, item appeal) but not all: "click-bait" items attract clicks and convert poorly,
and price lowers conversion only — so the clicked impressions are a biased sample of the
space a CVR model is applied to (ESMM's sample selection bias), and conversions are sparse.

The selection is on features the models see: given (user, item, context), `cvr_if_clicked`
ignores the click (no hidden confounder). So the clicked impressions are a covariate-shifted
sample — top positions, active users, appealing and click-bait items are over-represented,
and they would convert more often than the unclicked ones — and the conversion signal is
thin (~0.2% of impressions; rare users and items have a handful of clicks). A CVR head fitted
on clicks targets the right p(conversion | click, x) but must extrapolate where clicks are
rare and learn id embeddings from few samples. ESMM's CTCVR loss weights the space the same
way to first order (its information on pCVR at x is ∝ pCTR(x), as for a clicks-only fit), so
what it can gain here is finite-sample: embeddings fitted on every impression and
pCTR-weighted negatives from the unclicked ones, not a reweighting of the space.

Tasks: `ctr` (click, every impression), `cvr` (conversion, sample space `click == 1`) and
`ctcvr` (click and conversion, every impression). `FunnelData.oracle[split]` holds what a
real log never shows, for judging the entire-space effect: `cvr_if_clicked`, `p_click`,
`p_convert`.

Example:

>>> data = load_funnel(rows=20_000, seed=0)
>>> [t.name for t in data.tasks]
['ctr', 'cvr', 'ctcvr']
>>> bool(0.03 < data["train"].labels["ctr"].mean() < 0.07)
True
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfmtl.data.dataset import MultiTaskData, Split, build_splits, split_indices
from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec
from tfmtl.tasks import Task


@dataclasses.dataclass
class FunnelData(MultiTaskData):
    """`MultiTaskData` plus `oracle`: split -> {cvr_if_clicked, p_click, p_convert} arrays."""

    oracle: dict = dataclasses.field(default_factory=dict)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _calibrate(logit, target: float, weights=None) -> float:
    """The bias b with mean(sigmoid(logit + b)) = target (bisection; weighted mean if given)."""
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2.0
        rate = np.average(_sigmoid(logit + mid), weights=weights)
        lo, hi = (mid, hi) if rate < target else (lo, mid)
    return (lo + hi) / 2.0


def funnel_columns(
    rows: int,
    click_rate: float = 0.05,
    cvr_rate: float = 0.035,
    users: int = 2000,
    items: int = 500,
    seed: int = 0,
) -> dict:
    """Raw columns of the generator (features, `click`, `conversion`, and the oracle columns).

    `click_rate`: mean click probability over impressions; `cvr_rate`: mean conversion
    probability among clicked impressions.
    """
    _check_sizes(rows, click_rate, cvr_rate)
    rng = np.random.default_rng(seed)
    latent = _latent_factors(rng, users, items)
    user = rng.integers(0, users, size=rows)
    item = (rng.zipf(1.3, size=rows) - 1) % items  # popular items get more impressions
    position = rng.integers(1, 11, size=rows).astype(np.float64)
    hour = rng.integers(0, 24, size=rows)
    device = rng.choice(["ios", "android", "web"], size=rows, p=[0.35, 0.45, 0.2])
    categories, u_segment, i_price = latent["categories"], latent["segment"], latent["price"]
    affinity = latent["affinity"][u_segment[user], categories[item]]
    evening = ((hour >= 18) & (hour <= 23)).astype(np.float64)

    click_logit = (
        0.8 * latent["active"][user]
        + 0.9 * latent["appeal"][item]
        + affinity
        - 0.15 * position
        + 0.2 * evening
    )
    conv_logit = (
        0.9 * latent["intent"][user]
        + 0.8 * latent["quality"][item]
        + 1.2 * affinity
        - 0.6 * np.log(i_price[item])
        + 0.3 * (device == "web")
    )
    p_click = _sigmoid(click_logit + _calibrate(click_logit, click_rate))
    # calibrate CVR among clicks: the p_click-weighted mean of p_convert
    p_convert = _sigmoid(conv_logit + _calibrate(conv_logit, cvr_rate, weights=p_click))
    click = (rng.random(rows) < p_click).astype(np.float32)
    cvr_if_clicked = (rng.random(rows) < p_convert).astype(np.float32)
    return {
        "user_id": np.char.add("u", user.astype(str)),
        "item_id": np.char.add("i", item.astype(str)),
        "item_category": np.char.add("c", categories[item].astype(str)),
        "user_segment": np.char.add("s", u_segment[user].astype(str)),
        "device": device,
        "hour": np.char.add("h", hour.astype(str)),
        "position": position,
        "item_price": i_price[item],
        "click": click,
        "conversion": click * cvr_if_clicked,
        "cvr_if_clicked": cvr_if_clicked,
        "p_click": p_click.astype(np.float32),
        "p_convert": p_convert.astype(np.float32),
    }


def _check_sizes(rows: int, click_rate: float, cvr_rate: float) -> None:
    if not 0.0 < click_rate < 1.0 or not 0.0 < cvr_rate < 1.0:
        raise ValueError(
            "click_rate and cvr_rate must be in (0, 1). "
            f"Received: click_rate={click_rate}, cvr_rate={cvr_rate}"
        )
    if rows < 10:
        raise ValueError(f"funnel_columns needs rows >= 10. Received: rows={rows}")


def _latent_factors(rng: np.random.Generator, users: int, items: int) -> dict:
    """User activity and purchase intent, item appeal, quality and price, drawn from `rng`."""
    active, intent = rng.normal(size=users), rng.normal(size=users)
    intent = 0.5 * active + np.sqrt(1 - 0.25) * intent  # active users buy more, partly
    appeal, quality = rng.normal(size=items), rng.normal(size=items)
    bait = rng.random(items) < 0.15  # click-bait: appealing, converts badly
    appeal[bait] += 1.0
    quality[bait] -= 1.5
    price = np.exp(rng.normal(3.0, 0.8, size=items))
    categories = rng.integers(0, 20, size=items)
    affinity = rng.normal(scale=0.5, size=(8, 20))  # user segment x item category
    segment = rng.integers(0, 8, size=users)
    return {
        "active": active,
        "intent": intent,
        "appeal": appeal,
        "quality": quality,
        "price": price,
        "categories": categories,
        "affinity": affinity,
        "segment": segment,
    }


def funnel_spec(embedding_dim: int = 8) -> FeatureSpec:
    return FeatureSpec(
        [
            CategoricalFeature("user_id", embedding_dim=embedding_dim),
            CategoricalFeature("item_id", embedding_dim=embedding_dim),
            CategoricalFeature("item_category", embedding_dim=4),
            CategoricalFeature("user_segment", embedding_dim=4),
            CategoricalFeature("device", embedding_dim=2),
            CategoricalFeature("hour", embedding_dim=4),
            DenseFeature("position"),
            DenseFeature("item_price", transform="log1p"),
        ]
    )


def funnel_tasks() -> list[Task]:
    return [
        Task("ctr", kind="binary", label="click"),
        Task("cvr", kind="binary", label="conversion", sample_space="click == 1"),
        Task("ctcvr", kind="binary", label="conversion"),
    ]


def select_tasks(data: MultiTaskData, names) -> MultiTaskData:
    """The same data with only the tasks `names` and their labels (AITM's `["ctr", "ctcvr"]`)."""
    known = {t.name: t for t in data.tasks}
    missing = [n for n in names if n not in known]
    if missing:
        raise ValueError(f"Task(s) {missing} not in the data. Tasks: {sorted(known)}")
    splits = {k: Split(s.features, {n: s.labels[n] for n in names}) for k, s in data.splits.items()}
    return dataclasses.replace(data, tasks=[known[n] for n in names], splits=splits)


def load_funnel(
    rows: int = 200_000,
    click_rate: float = 0.05,
    cvr_rate: float = 0.035,
    seed: int = 0,
    embedding_dim: int = 8,
) -> FunnelData:
    """The funnel as `FunnelData` (60/20/20 split by `seed`), tasks ctr, cvr, ctcvr."""
    columns = funnel_columns(rows, click_rate=click_rate, cvr_rate=cvr_rate, seed=seed)
    indices = split_indices(rows, seed)
    data = build_splits(columns, funnel_spec(embedding_dim), funnel_tasks(), indices, "funnel")
    oracle = {
        split: {k: columns[k][idx] for k in ("cvr_if_clicked", "p_click", "p_convert")}
        for split, idx in indices.items()
    }
    clicks = columns["click"]
    description = (
        f"Click -> conversion funnel: {rows:,} impressions, seed {seed}; click rate "
        f"{clicks.mean():.2%}, "
        f"CVR among clicks {columns['conversion'][clicks == 1].mean():.2%}, "
        f"CVR over all impressions (counterfactual) {columns['cvr_if_clicked'].mean():.2%}"
    )
    return FunnelData(data.spec, data.tasks, data.splits, description, oracle=oracle)
