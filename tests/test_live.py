"""What an open store keeps in memory (live/): per-user histories and the priors, exact after every kind of write."""

from __future__ import annotations

import time

import numpy as np
import pytest

from ondevice_rec import Recommender


def _signals(rec: Recommender, user: str):
    return rec._histories.signals(user, True)


def _fresh(rec: Recommender, user: str):
    rec._histories.clear()
    return _signals(rec, user)


def _same(a, b) -> None:
    assert (a.known, a.consented) == (b.known, b.consented)
    assert sorted(np.asarray(a.excluded).tolist()) == sorted(np.asarray(b.excluded).tolist())
    assert a.events.items.tolist() == b.events.items.tolist() and a.events.kinds == b.events.kinds
    np.testing.assert_allclose(a.events.weights, b.events.weights)
    np.testing.assert_allclose(a.events.at, b.events.at)
    assert a.events.ctx == b.events.ctx and dict(a.impressions) == dict(b.impressions)


@pytest.fixture
def user(rec_demo: Recommender, demo_catalog) -> str:
    rec_demo.consent("u").grant("personalization")
    t = time.time() - 1000
    rec_demo.record_many(
        [{"user_id": "u", "item_id": it["id"], "kind": "like", "at": t + i} for i, it in enumerate(demo_catalog[:8])]
    )
    return "u"


@pytest.mark.parametrize(
    "event",
    [
        {"kind": "like"},
        {"kind": "dislike"},
        {"kind": "impression"},
        {"kind": "rating", "value": 4.5, "context": {"device": "tv"}},
        {"kind": "view", "at": 1e9},  # back-dated: not the newest, the entry is read again
    ],
)
def test_recording_keeps_the_history_exact(rec_demo: Recommender, demo_catalog, user: str, event) -> None:
    _signals(rec_demo, user)  # cached
    rec_demo._histories.signals("other", True)
    rec_demo.record(user, demo_catalog[20]["id"], **event)
    _same(_signals(rec_demo, user), _fresh(rec_demo, user))


def test_a_cached_user_costs_no_events_query(rec_demo: Recommender, demo_catalog, user: str) -> None:
    rec_demo.recommend(user, k=5)
    rec_demo.record(user, demo_catalog[30]["id"], kind="click")  # updated in place, not read again
    seen: list[str] = []
    rec_demo._store.conn.set_trace_callback(seen.append)
    try:
        rec_demo.recommend(user, k=5)
    finally:
        rec_demo._store.conn.set_trace_callback(None)
    assert not [s for s in seen if "events" in s or "consents" in s], seen


def test_writes_elsewhere_are_seen_at_once(db_path, rec_demo: Recommender, demo_catalog, user: str) -> None:
    before = _signals(rec_demo, user)
    with Recommender.open(db_path) as other:  # another connection
        other.record(user, demo_catalog[40]["id"], kind="like")
        other.consent("v").grant("personalization")
    after = _signals(rec_demo, user)
    assert len(after.events) == len(before.events) + 1
    rec_demo.consent(user).revoke("personalization")
    assert not _signals(rec_demo, user).consented
    rec_demo.consent(user).grant("personalization")
    rec_demo.forget_user(user)
    assert not _signals(rec_demo, user).known
    assert not rec_demo.recommend(user, k=3)[0].personalized


def test_retention_and_profiles_reach_the_cached_state(rec_demo: Recommender, user: str) -> None:
    assert len(_signals(rec_demo, user).events) == 8
    rec_demo.set_profile(user, "I love jazz")
    assert _signals(rec_demo, user).profile is not None
    assert rec_demo.apply_retention(0.0001) == 8
    assert len(_signals(rec_demo, user).events) == 0


def test_own_records_keep_the_priors_as_the_store_has_them(rec_demo: Recommender, demo_catalog) -> None:
    from ondevice_rec.live.snapshot import CatalogSnapshot

    users = [f"p{i}" for i in range(7)]
    for u in users:
        rec_demo.consent(u).grant("personalization")
    rec_demo.recommend("p0", k=3)  # the snapshot and its priors are loaded
    for step, u in enumerate(users * 2):
        item = demo_catalog[step % 3]["id"]
        rec_demo.record(u, item, kind="like", context={"device": "tv"} if step % 2 else None)
        with rec_demo._lock:
            snap = rec_demo._items.snapshot()
            fresh = CatalogSnapshot.build(snap.version, snap.iids, snap.tags, snap.matrix)
            fresh.set_stats(rec_demo._store.catalog.stats(), 0, rec_demo.config.popularity_min_users)
        assert sorted(snap.pop_raw) == sorted(fresh.pop_raw)
        for ctx, arr in fresh.pop_raw.items():
            np.testing.assert_allclose(snap.pop_raw[ctx], arr)
    assert snap.local_prior("") is not None and float(snap.local_prior("").max()) == 1.0
