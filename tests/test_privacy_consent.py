"""What is stored and used without consent, declared purposes, and a fallback that never reveals one
person's activity to another (k-anonymous popularity)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ondevice_rec import ConsentError, RankingConfig, Recommender


def _open(db: Path, demo_catalog: list[dict], k: int = 5, **kw) -> Recommender:
    rec = Recommender.open(db, config=RankingConfig(popularity_min_users=k), **kw)
    rec.add_items(demo_catalog)
    return rec


def test_one_users_favourites_never_appear_in_a_strangers_fallback(db_path: Path, demo_catalog: list[dict]) -> None:
    with _open(db_path, demo_catalog) as rec:
        rec.consent("alice").grant("personalization")
        favourites = ["jazz-07", "jazz-08", "jazz-09", "cook-11", "scie-13"]
        for it in favourites:
            rec.record("alice", it, kind="rating", value=5)
            rec.record("alice", it, kind="purchase")
        fallback = rec.recommend("stranger", k=10)
        assert not {r.item_id for r in fallback} & set(favourites)
        assert all("Popular" not in r.reason for r in fallback)  # nothing is popular on one person's say-so
        assert all(r.reason.startswith("From the catalogue") for r in fallback)


def test_local_popularity_appears_once_k_people_share_it(db_path: Path, demo_catalog: list[dict]) -> None:
    with _open(db_path, demo_catalog, k=5) as rec:
        for i in range(4):
            rec.consent(f"u{i}").grant("personalization")
            rec.record(f"u{i}", "trav-05", kind="like")
        assert "trav-05" not in {r.item_id for r in rec.recommend("stranger", k=5, diversity=0.0)}
        rec.consent("u4").grant("personalization")
        rec.record("u4", "trav-05", kind="like")
        top = rec.recommend("stranger", k=5, diversity=0.0)
        assert top[0].item_id == "trav-05" and top[0].reason.startswith("Popular right now")


def test_catalogue_popularity_drives_the_fallback_without_any_local_data(
    db_path: Path, demo_catalog: list[dict]
) -> None:
    with _open(db_path, demo_catalog) as rec:
        rec.add_items([{**demo_catalog[3], "popularity": 1000}, {**demo_catalog[7], "popularity": 10}])
        top = rec.recommend("stranger", k=2, diversity=0.0)
        assert [r.item_id for r in top] == [demo_catalog[3]["id"], demo_catalog[7]["id"]]
        assert top[0].reason.startswith("Popular in the catalogue")


def test_events_without_consent_are_stored_but_feed_no_shared_prior(db_path: Path, demo_catalog: list[dict]) -> None:
    with _open(db_path, demo_catalog, k=1) as rec:
        rec.record("nocon", "hist-05", kind="purchase")  # stored for the app's own use ...
        assert len(rec.export_user("nocon")["events"]) == 1
        assert rec._store.catalog.stats() == []  # ... but counts towards nothing anyone else sees
        rec.consent("nocon").grant("personalization")  # consent given later: the past events now count
        assert {(s[0], s[1]) for s in rec._store.catalog.stats()}
        assert rec.recommend("stranger", k=1)[0].item_id == "hist-05"
        rec.consent("nocon").revoke("personalization")  # withdrawn: the contribution goes too
        assert rec._store.catalog.stats() == []


def test_the_reason_says_exactly_what_was_used_without_consent(db_path: Path, demo_catalog: list[dict]) -> None:
    with _open(db_path, demo_catalog) as rec:
        rec.record("bob", "jazz-01", kind="like")
        recs = rec.recommend("bob", k=3)
        assert all(not r.personalized for r in recs)
        assert all(
            r.reason.endswith(
                "(not personalised: personalization consent not given; "
                "only items you already interacted with are left out)"
            )
            for r in recs
        )
        assert "jazz-01" not in {r.item_id for r in recs}
        assert rec.recommend("newbie", k=1)[0].reason.endswith("(not personalised: no history or profile yet)")


def test_consent_needs_a_declared_purpose(db_path: Path, demo_catalog: list[dict]) -> None:
    with _open(db_path, demo_catalog) as rec:
        with pytest.raises(ConsentError, match="not declared.*declared purposes: personalization"):
            rec.consent("u").grant("personalisation")  # a typo
        rec.egress.declare("cloud-llm", "Ask a cloud LLM for a richer answer")
    with Recommender.open(db_path) as other:  # declarations are stored: every process sees them
        other.consent("u").grant("cloud-llm")
        assert other.consent("u").granted("cloud-llm")
        assert set(other.egress.purposes) == {"cloud-llm"}
        other.consent("u").revoke("cloud-llm")  # withdrawing a declared purpose is always possible
        with pytest.raises(ConsentError, match="not declared"):
            other.consent("u").revoke("personalisation")  # a typo must not look like a withdrawal
        assert not other.consent("u").granted("cloud-llm")


def test_popularity_min_users_is_validated() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RankingConfig(popularity_min_users=0)


def test_a_grant_adds_the_user_to_the_priors_exactly_as_a_rebuild_would(
    db_path: Path, demo_catalog: list[dict]
) -> None:
    from ondevice_rec.store import statements

    with _open(db_path, demo_catalog, k=2) as rec:
        ids = [it["id"] for it in demo_catalog]
        for u in range(6):  # events first (no consent yet), then the grants, one at a time
            for j in range(5):
                ctx = {"device": "tv"} if (u + j) % 2 else None
                rec.record(f"u{u}", ids[(u * 3 + j) % 12], kind="rating", value=1 + (u + j) % 5, context=ctx)
        for u in range(6):
            rec.consent(f"u{u}").grant("personalization")
        rec.consent("u2").revoke("personalization")
        got = sorted(rec._store.catalog.stats())
        with rec._store.write() as conn:
            statements.recompute_stats(conn, [r[0] for r in conn.execute("SELECT iid FROM items")], rec._increments)
        want = sorted(rec._store.catalog.stats())
    assert [(i, c, u) for i, c, _, u in got] == [(i, c, u) for i, c, _, u in want]
    assert [w for *_, w, _ in got] == pytest.approx([w for *_, w, _ in want])


def test_a_withdrawal_takes_the_users_weight_out_of_what_strangers_see_at_once(
    db_path: Path, demo_catalog: list[dict]
) -> None:
    with _open(db_path, demo_catalog, k=5) as rec:
        for i in range(5):
            rec.consent(f"u{i}").grant("personalization")
            rec.record(f"u{i}", "trav-05", kind="like")
        assert rec.recommend("stranger", k=1, diversity=0.0)[0].item_id == "trav-05"
        rec.consent("u4").revoke("personalization")  # 4 people left: below k, never shown as popular
        top = rec.recommend("stranger", k=5, diversity=0.0)
        assert "trav-05" not in {r.item_id for r in top} and all("Popular" not in r.reason for r in top)
        rec.consent("u4").grant("personalization")
        assert rec.recommend("stranger", k=1, diversity=0.0)[0].item_id == "trav-05"
