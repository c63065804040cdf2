"""Behaviour sequences: strictly earlier events only (ties excluded), most recent kept, MovieLens
loader.
"""

import numpy as np
import pytest

from tfmtl.data.sequences import behaviour_sequences, load_movielens_sequences


def _naive(users, items, ts, flags, max_len, padding=0):
    out = np.full((len(users), max_len), padding, np.int64)
    for j in range(len(users)):
        earlier = [
            e for e in range(len(users)) if users[e] == users[j] and flags[e] and ts[e] < ts[j]
        ]
        earlier.sort(key=lambda e: ts[e])
        kept = [items[e] for e in earlier][-max_len:]
        out[j, : len(kept)] = kept
    return out


def _log(n=300, seed=0):
    rng = np.random.default_rng(seed)
    users = rng.integers(1, 8, n)
    ts = rng.integers(0, 40, n)  # many ties in time
    items = np.arange(1, n + 1)  # one id per event, so every item names its event
    rating = rng.integers(1, 6, n)
    return users, items, ts, rating


@pytest.mark.parametrize("max_len", [1, 3, 50])
def test_matches_brute_force(max_len):
    users, items, ts, rating = _log()
    flags = {"liked": rating >= 4, "disliked": rating <= 2}
    got = behaviour_sequences(users, items, ts, flags, max_len)
    for name, f in flags.items():
        np.testing.assert_array_equal(got[name], _naive(users, items, ts, f, max_len))


def test_no_leakage_only_strictly_earlier_events_of_the_same_user():
    users, items, ts, rating = _log(seed=1)
    seqs = behaviour_sequences(users, items, ts, {"rated": np.ones(len(users), bool)}, max_len=400)[
        "rated"
    ]
    for j, row in enumerate(seqs):
        events = row[row != 0] - 1  # item i is event i - 1
        assert (users[events] == users[j]).all()
        assert (ts[events] < ts[j]).all(), f"row {j} sees an event at or after its own time"
        assert j not in events
        same_time = np.flatnonzero((users == users[j]) & (ts == ts[j]))
        assert not np.isin(same_time, events).any()  # ties excluded
        assert (np.diff(ts[events]) >= 0).all()  # oldest first


def test_keeps_the_most_recent_items_and_pads_at_the_end():
    users = np.array([1, 1, 1, 1, 2])
    items = np.array([10, 11, 12, 13, 14])
    ts = np.array([4, 1, 2, 3, 1])
    got = behaviour_sequences(users, items, ts, {"all": np.ones(5, bool)}, max_len=2)["all"]
    np.testing.assert_array_equal(got, [[12, 13], [0, 0], [11, 0], [11, 12], [0, 0]])


def test_errors_name_the_culprit():
    with pytest.raises(ValueError, match="padding"):
        behaviour_sequences([1, 1], [0, 2], [1, 2], {"a": [True, True]}, 3)
    with pytest.raises(ValueError, match="max_len"):
        behaviour_sequences([1], [1], [1], {"a": [True]}, 0)
    with pytest.raises(ValueError, match="'a'"):
        behaviour_sequences([1, 1], [1, 2], [1, 2], {"a": [True]}, 3)
    with pytest.raises(ValueError, match="behaviour"):
        load_movielens_sequences(behaviours=("watched",))


def test_movielens_sequences_are_built_from_the_raw_log():
    data = load_movielens_sequences(max_len=5, behaviours=("liked", "disliked"))
    spec = data.spec
    assert spec["liked_items"].share_with == "item_id" and spec["liked_items"].max_len == 5
    test = data["test"]
    assert test.features["liked_items"].shape == (len(test), 5)
    ex = test.extras
    rows = np.random.default_rng(0).choice(len(test), 25, replace=False)
    all_splits = [data[s] for s in ("train", "validation", "test")]
    log = {
        k: np.concatenate([s.extras[k] for s in all_splits])
        for k in ("user_id", "item_id", "timestamp", "rating")
    }
    for r in rows:
        mine = (log["user_id"] == ex["user_id"][r]) & (log["timestamp"] < ex["timestamp"][r])
        for name, flag in (
            ("liked_items", log["rating"] >= 4),
            ("disliked_items", log["rating"] <= 2),
        ):
            sel = np.flatnonzero(mine & flag)
            sel = sel[np.argsort(log["timestamp"][sel], kind="stable")]
            expected = set(log["item_id"][sel][-5:]) if len(sel) else set()
            got = test.features[name][r]
            assert set(got[got != 0]) <= set(log["item_id"][sel])
            assert len(got[got != 0]) == min(5, len(sel))
            if len(sel) and (
                len(sel) <= 5 or log["timestamp"][sel][-5] != log["timestamp"][sel][-6]
            ):
                assert set(got[got != 0]) == expected
