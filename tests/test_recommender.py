from __future__ import annotations

import time
from collections import Counter

import pytest

from ondevice_rec import ItemNotFoundError, OdrecError, Recommendation, Recommender
from tests.conftest import topic_of

DAY = 86400.0


def grant(rec: Recommender, user: str) -> None:
    rec.consent(user).grant("personalization")


def test_public_api_contract(rec_demo: Recommender) -> None:
    rec = rec_demo
    rec.add_items([{"id": "b1", "title": "A Book", "text": "About ships.", "tags": ["sea"]}])
    rec.add_items([{"id": "b1", "title": "A Book, revised", "text": "About ships.", "tags": ["sea"]}])  # upsert
    assert rec.get_item("b1")["title"] == "A Book, revised"
    grant(rec, "alice")
    for kind in ("view", "click", "like", "skip", "dislike", "purchase"):
        rec.record("alice", "jazz-01", kind=kind)
    rec.record("alice", "jazz-02", kind="rating", value=5, at=time.time() - 60, context={"device": "mobile"})
    rec.set_profile("alice", "I love hard science fiction, no horror")
    recs = rec.recommend("alice", k=10, context={"time": "evening", "device": "desktop"}, diversity=0.2)
    assert len(recs) == 10 and all(isinstance(r, Recommendation) for r in recs)
    assert all(isinstance(r.reason, str) and 5 < len(r.reason) < 120 for r in recs)
    assert all(isinstance(r.score, float) for r in recs)
    assert {"jazz-01", "jazz-02"}.isdisjoint(r.item_id for r in recs)  # seen excluded by default
    assert rec.consent("alice").status() == {"personalization": True}


def test_profile_only_user_gets_mostly_on_topic_items(rec_demo: Recommender) -> None:
    cases = {
        "scie": "I love hard science fiction about spaceships and other planets, no horror",
        "cook": "I enjoy cooking quick vegetarian dinners and baking bread",
        "jazz": "Relaxing jazz records with saxophone and piano",
        "trav": "Hiking, trekking and travel guides for mountain trips",
    }
    for topic, profile in cases.items():
        user = f"cold-{topic}"
        grant(rec_demo, user)
        rec_demo.set_profile(user, profile)
        recs = rec_demo.recommend(user, k=10, diversity=0.0)
        on_topic = sum(topic_of(r.item_id) == topic for r in recs)
        assert on_topic >= 7, (topic, [r.title for r in recs])
        assert all(r.personalized for r in recs)


@pytest.mark.parametrize(
    "profile, topic",
    [("classic novels", "roma"), ("spooky stories and dark thrillers", "horr"), ("books about the sea", "scie")],
)
def test_negative_profile_clause_pushes_topic_away(rec_demo: Recommender, profile: str, topic: str) -> None:
    negation = {"roma": "no romance", "horr": "no horror, no ghosts", "scie": "no science fiction"}[topic]
    grant(rec_demo, "plain")
    grant(rec_demo, "neg")
    rec_demo.set_profile("plain", profile)
    rec_demo.set_profile("neg", f"{profile}, {negation}")
    plain = sum(topic_of(r.item_id) == topic for r in rec_demo.recommend("plain", k=10))
    neg = sum(topic_of(r.item_id) == topic for r in rec_demo.recommend("neg", k=10))
    assert neg < plain and neg <= max(1, plain // 2 + 1), (plain, neg)


def test_drifting_interest_rises_to_the_top(rec_demo: Recommender) -> None:
    grant(rec_demo, "d")
    now = time.time()
    for i, item in enumerate(["scie-01", "scie-02", "scie-07", "scie-09", "scie-12", "scie-15", "scie-17", "scie-19"]):
        rec_demo.record("d", item, kind="like", at=now - (30 - i) * DAY)
    before = rec_demo.recommend("d", k=5)
    assert Counter(topic_of(r.item_id) for r in before).most_common(1)[0][0] == "scie"
    for i, item in enumerate(["cook-01", "cook-07", "cook-15"]):
        rec_demo.record("d", item, kind="like", at=now - (3 - i) * 3600)
    after = rec_demo.recommend("d", k=5)
    assert topic_of(after[0].item_id) == "cook"
    assert sum(topic_of(r.item_id) == "cook" for r in after) >= 3


def test_dislikes_push_away_and_are_never_recommended(rec_demo: Recommender) -> None:
    grant(rec_demo, "x")
    rec_demo.set_profile("x", "scary books")
    baseline = rec_demo.recommend("x", k=10, diversity=0.0)
    assert sum(topic_of(r.item_id) == "horr" for r in baseline) >= 5
    for r in baseline[:6]:
        rec_demo.record("x", r.item_id, kind="dislike")
    after = rec_demo.recommend("x", k=10, exclude_seen=False)
    assert not {r.item_id for r in baseline[:6]} & {r.item_id for r in after}
    assert sum(topic_of(r.item_id) == "horr" for r in after) < sum(topic_of(r.item_id) == "horr" for r in baseline)


def test_exclude_seen_toggle(rec_demo: Recommender) -> None:
    grant(rec_demo, "s")
    rec_demo.record("s", "jazz-01", kind="like")
    rec_demo.record("s", "jazz-02", kind="like")
    seen = {"jazz-01", "jazz-02"}
    assert seen.isdisjoint(r.item_id for r in rec_demo.recommend("s", k=20))
    assert seen & {r.item_id for r in rec_demo.recommend("s", k=20, exclude_seen=False, diversity=0.0)}


def test_context_shifts_results(rec_demo: Recommender) -> None:
    grant(rec_demo, "c")
    now = time.time()
    for item in ["jazz-01", "jazz-02", "jazz-04", "jazz-06"]:
        rec_demo.record("c", item, kind="like", at=now - 5 * DAY, context={"time": "evening", "device": "mobile"})
    for item in ["prog-01", "prog-02", "prog-05", "prog-07"]:
        rec_demo.record("c", item, kind="like", at=now - 5 * DAY, context={"time": "morning", "device": "desktop"})
    evening = rec_demo.recommend("c", k=6, context={"time": "evening", "device": "mobile"}, diversity=0.0)
    morning = rec_demo.recommend("c", k=6, context={"time": "morning", "device": "desktop"}, diversity=0.0)
    assert sum(topic_of(r.item_id) == "jazz" for r in evening) > sum(topic_of(r.item_id) == "jazz" for r in morning)
    assert sum(topic_of(r.item_id) == "prog" for r in morning) > sum(topic_of(r.item_id) == "prog" for r in evening)


def test_context_popularity_for_anonymous_requests(rec_demo: Recommender) -> None:
    for u in range(5):
        grant(rec_demo, f"p{u}")
        rec_demo.record(f"p{u}", "trav-05", kind="like", context={"device": "tv"})
        rec_demo.record(f"p{u}", "hist-03", kind="like", context={"device": "mobile"})
    tv = rec_demo.recommend("newcomer", k=1, context={"device": "tv"})
    mobile = rec_demo.recommend("newcomer", k=1, context={"device": "mobile"})
    assert tv[0].item_id == "trav-05" and mobile[0].item_id == "hist-03"
    assert "on tv" in tv[0].reason


def test_diversity_knob_spreads_topics(rec_demo: Recommender) -> None:
    grant(rec_demo, "v")
    rec_demo.set_profile("v", "science fiction novels")
    narrow = rec_demo.recommend("v", k=10, diversity=0.0)
    wide = rec_demo.recommend("v", k=10, diversity=0.8)
    assert len({topic_of(r.item_id) for r in wide}) > len({topic_of(r.item_id) for r in narrow})


def test_no_consent_or_unknown_user_is_not_personalised(rec_demo: Recommender) -> None:
    rec_demo.set_profile("n", "science fiction")
    recs = rec_demo.recommend("n", k=5)
    assert all(not r.personalized and "consent" in r.reason for r in recs)
    grant(rec_demo, "n")
    assert all(r.personalized for r in rec_demo.recommend("n", k=5))
    rec_demo.consent("n").revoke("personalization")  # withdrawal takes effect at once
    assert all(not r.personalized for r in rec_demo.recommend("n", k=5))
    unknown = rec_demo.recommend("nobody", k=5)
    assert len(unknown) == 5 and all("not personalised" in r.reason for r in unknown)


def test_reasons_name_the_liked_item_or_the_profile(rec_demo: Recommender) -> None:
    grant(rec_demo, "r")
    rec_demo.record("r", "cook-04", kind="like")
    rec_demo.record("r", "cook-05", kind="like")
    recs = rec_demo.recommend("r", k=3, diversity=0.0)
    assert any(r.reason.startswith("Because you liked") for r in recs)
    grant(rec_demo, "q")
    rec_demo.set_profile("q", "I love gardening and growing vegetables")
    assert rec_demo.recommend("q", k=1)[0].reason.startswith("Matches your interest in")


def test_a_user_with_a_profile_and_no_events_is_never_told_about_their_activity(rec_demo: Recommender) -> None:
    grant(rec_demo, "p")
    rec_demo.set_profile("p", "I love gardening and growing vegetables")
    recs = rec_demo.recommend("p", k=rec_demo.count_items(), diversity=0.0)
    assert recs and not any("activity" in r.reason for r in recs)
    fallback = [r for r in recs if r["explanation"]["signal"] == "activity"]
    assert fallback and all(r.reason == "Suggested from your profile" for r in fallback)
    assert fallback[0]["explanation"]["clause"]


def test_empty_catalog_gives_empty_list(rec: Recommender) -> None:
    assert rec.recommend("alice", k=5) == []


@pytest.mark.parametrize(
    "call, exc",
    [
        (lambda r: r.recommend("a", k=0), ValueError),
        (lambda r: r.recommend("a", k=-1), ValueError),
        (lambda r: r.recommend("a", k=1.5), TypeError),
        (lambda r: r.recommend("a", k=True), TypeError),
        (lambda r: r.recommend("", k=3), ValueError),
        (lambda r: r.recommend(None, k=3), TypeError),
        (lambda r: r.recommend("a", diversity=2), ValueError),
        (lambda r: r.recommend("a", context={"weather": "rain"}), ValueError),
        (lambda r: r.recommend("a", context={"time": "teatime"}), ValueError),
        (lambda r: r.record("a", "jazz-01", kind="love"), ValueError),
        (lambda r: r.record("a", "jazz-01", kind="rating"), ValueError),
        (lambda r: r.record("a", "jazz-01", kind="rating", value=float("nan")), ValueError),
        (lambda r: r.record("a", "jazz-01", at="yesterday"), ValueError),
        (lambda r: r.record(" ", "jazz-01"), ValueError),
        (lambda r: r.record("a", 5), TypeError),
        (lambda r: r.record("a", "no-such-item"), ItemNotFoundError),
        (lambda r: r.add_items([{"title": "no id"}]), TypeError),
        (lambda r: r.add_items([{"id": "x"}]), ValueError),
        (lambda r: r.add_items({"id": "x"}), TypeError),
        (lambda r: r.add_items([{"id": "x", "title": "t", "meta": {"v": float("inf")}}]), ValueError),
        (lambda r: r.set_profile("a", 42), TypeError),
        (lambda r: r.consent("a").grant("Not A Purpose!"), ValueError),
    ],
)
def test_bad_input_raises_typed_errors(rec_demo: Recommender, call, exc) -> None:
    with pytest.raises(exc):
        call(rec_demo)


def test_errors_derive_from_odrec_error() -> None:
    assert issubclass(ItemNotFoundError, OdrecError)


def test_bad_batch_writes_nothing(rec_demo: Recommender) -> None:
    n = rec_demo.count_items()
    with pytest.raises(ValueError):
        rec_demo.add_items([{"id": "ok1", "title": "fine"}, {"id": "", "title": "bad"}])
    assert rec_demo.count_items() == n
    with pytest.raises(ItemNotFoundError):
        rec_demo.record_many([{"user_id": "z", "item_id": "jazz-01"}, {"user_id": "z", "item_id": "missing"}])
    assert rec_demo.export_user("z")["found"] is False


def test_new_bundle_reembeds_existing_catalog(db_path, demo_catalog, bundle_copy) -> None:
    with Recommender.open(db_path) as rec:
        rec.add_items(demo_catalog[:10])
    # same model content → same model id → nothing to re-embed; vectors reused
    with Recommender.open(db_path, bundle=bundle_copy) as rec:
        assert len(rec.recommend("u", k=10)) == 10


def test_closed_recommender_refuses_calls(db_path) -> None:
    rec = Recommender.open(db_path)
    rec.close()
    with pytest.raises(OdrecError, match="closed"):
        rec.recommend("a")


def test_constructed_directly_it_is_complete(db_path, demo_catalog) -> None:
    """``Recommender(path, ...)`` is the same as ``Recommender.open(path, ...)``: nothing is patched on later."""
    with Recommender(db_path, retention_days=30) as rec:
        rec.add_items(demo_catalog[:20])
        rec.consent("u").grant("personalization")
        rec.record("u", demo_catalog[0]["id"], kind="like")
        assert len(rec.recommend("u", k=5)) == 5
        assert rec.retention_days == 30 and rec.bundle.manifest.name == "default-minilm-l6-int8"


def test_a_read_never_writes(rec_demo: Recommender, db_path, bundle_copy) -> None:
    rec_demo.consent("u").grant("personalization")
    rec_demo.set_profile("u", "jazz in the evening")
    rec_demo.record("u", "jazz-01", kind="like")
    conn = rec_demo._store.conn
    before = conn.total_changes
    for _ in range(3):
        rec_demo.recommend("u", k=5)
    assert conn.total_changes == before


def test_a_profile_written_under_another_bundle_is_reembedded_on_open(db_path, demo_catalog) -> None:
    import sqlite3

    with Recommender.open(db_path) as rec:
        rec.add_items(demo_catalog[:20])
        rec.consent("u").grant("personalization")
        rec.set_profile("u", "jazz in the evening")
    con = sqlite3.connect(db_path)
    con.execute("UPDATE profile_vectors SET model_id='another-bundle'")
    con.commit()
    con.close()
    with Recommender.open(db_path) as rec:  # the open writes the vectors for this bundle, not the request
        conn = rec._store.conn
        n = conn.execute("SELECT count(*) FROM profile_vectors WHERE model_id=?", (rec.space_id,)).fetchone()[0]
        assert n == 1
        before = conn.total_changes
        assert rec.recommend("u", k=3)[0].personalized
        assert conn.total_changes == before


@pytest.mark.parametrize(
    "event, message",
    [
        ({"at": -1}, "before 1970"),
        ({"at": 2999}, "looks like a year"),
        ({"at": "2999-01-01"}, "in the future"),
        ({"at": 1.7e12}, "milliseconds"),
        ({"context": {"time": 12}}, "daypart"),
        ({"context": {"time": True}}, "datetime"),
    ],
)
def test_event_times_outside_1970_to_tomorrow_are_refused(rec_demo: Recommender, demo_catalog, event, message) -> None:
    with pytest.raises(OdrecError, match=message):
        rec_demo.record("u", demo_catalog[0]["id"], **event)
    assert rec_demo.info()["events"] == 0


def test_with_nothing_to_go_on_the_list_spreads_across_tags_and_says_so(rec_demo: Recommender, demo_catalog) -> None:
    recs = rec_demo.recommend("stranger", k=8)
    order = [it["id"] for it in demo_catalog]
    assert [r.item_id for r in recs] != order[:8]  # never the insertion order dressed up as a ranking
    assert len({topic_of(r.item_id) for r in recs}) >= 4
    assert all(r.explanation["signal"] == "catalogue-spread" and "no popularity to go on" in r.reason for r in recs)


def test_priors_the_app_ships_order_the_fallback_and_unknown_ids_write_nothing(
    rec_demo: Recommender, demo_catalog
) -> None:
    ids = [it["id"] for it in demo_catalog]
    assert rec_demo.set_priors({ids[40]: 900, ids[7]: 5000, ids[3]: 10}) == 3
    recs = rec_demo.recommend("stranger", k=3, diversity=0.0)
    assert [r.item_id for r in recs] == [ids[7], ids[40], ids[3]]
    assert all(r.reason.startswith("Popular in the catalogue") for r in recs)
    assert all(r.explanation["decided_by"] == "popularity" for r in recs)
    assert sum(recs[0].explanation["contributions"].values()) == pytest.approx(recs[0].score, abs=1e-3)
    with pytest.raises(ItemNotFoundError):
        rec_demo.set_priors({ids[3]: 99999, "no-such-item": 1})
    with pytest.raises(OdrecError, match="finite number"):
        rec_demo.set_priors({ids[3]: -1})
    assert rec_demo.recommend("stranger", k=1, diversity=0.0)[0].item_id == ids[7]  # nothing was changed
    with Recommender.open(rec_demo._store.path) as other:  # stored, not only in memory
        assert other.recommend("stranger", k=1, diversity=0.0)[0].item_id == ids[7]
