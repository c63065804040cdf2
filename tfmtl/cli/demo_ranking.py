"""The ranking step of `tfmtl demo`: a few queries against the RankingService, printed as tables.

Each query is one user row of the demo test split (its user features as the context) and a
few other rows as candidate videos; the queries cycle through the default fusion, a
per-request override and facet routing (`tfmtl.serving.RankingClient.rank`).
"""

from __future__ import annotations

import time

import numpy as np

USER_FEATURES = ("x0", "x1", "x2", "x3", "segment")
VARIANTS = [
    ("default fusion: PLE eq 1 = p_click * p_finish * log1p(video_len)", {}),
    (
        "override: finish weighted 3x, no length factor",
        {"fusion": {"weights": {"finish": 3.0}, "length_feature": ""}},
    ),
    (
        "facet group 'retention': only the finish and watch_time heads",
        {"facet_group": "retention"},
    ),
]


def say(start: float, message: str) -> None:
    """One progress line of the demo, stamped with the seconds since `start`."""
    print(f"[tfmtl demo {time.time() - start:5.1f}s] {message}", flush=True)


def rank_queries(start: float, address: str, data, queries: int, candidates: int, seed: int):
    """Send `queries` Rank requests of `candidates` videos each to `address`; print each table."""
    from tfmtl.serving import RankingClient

    test = data["test"].features
    rng = np.random.default_rng(seed)
    item_features = [k for k in test if k not in USER_FEATURES]
    say(
        start,
        f"5/5 ranking {queries} queries of {candidates} candidates (user features: "
        f"{', '.join(USER_FEATURES)}; candidate features: {', '.join(item_features)})",
    )
    with RankingClient(address) as client:
        for q in range(queries):
            user = int(rng.integers(len(test["x0"])))
            picks = rng.choice(len(test["x0"]), size=candidates, replace=False)
            context = {k: test[k][user] for k in USER_FEATURES}
            items = {f"video{int(i):04d}": {k: test[k][i] for k in item_features} for i in picks}
            title, kwargs = VARIANTS[q % len(VARIANTS)]
            t0 = time.perf_counter()
            response = client.rank("ple", context, items, **kwargs)
            ms = (time.perf_counter() - t0) * 1e3
            print(
                f"\nquery {q + 1}: user row {user} (segment {context['segment']}), {title} "
                f"[model version {response.model_version}, {ms:.1f} ms]"
            )
            _print_table(response, {cid: f["video_len"] for cid, f in items.items()})
    print(flush=True)


def _print_table(response, lengths: dict) -> None:
    """`format_ranking`'s table with a video_len column added."""
    from tfmtl.serving import format_ranking

    table = format_ranking(response).splitlines()
    print(table[0] + f"  {'video_len':>9}")
    print(table[1] + "-" * 11)
    for line, c in zip(table[2:], response.candidates):
        print(line + f"  {lengths[c.id]:>9.0f}")
