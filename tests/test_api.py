"""The API integrators expect (issue 15): filters, batches, similar items, impressions, removal, JSON results,
structured explanations, declared context keys, read-only and must-exist opens, long memory with drift."""

from __future__ import annotations

import json
import logging
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ondevice_rec import ArgumentError, ItemNotFoundError, Recommender, StoreError
from tests.conftest import topic_of

DAY = 86400.0


def grant(rec: Recommender, user: str) -> None:
    rec.consent(user).grant("personalization")


def test_results_are_json_serialisable_with_a_structured_explanation(rec_demo: Recommender) -> None:
    grant(rec_demo, "a")
    rec_demo.record("a", "jazz-01", kind="like")
    recs = rec_demo.recommend("a", k=5)
    back = json.loads(json.dumps(recs))
    assert [r["item_id"] for r in back] == [r.item_id for r in recs]
    assert set(back[0]) == {"item_id", "score", "reason", "title", "personalized", "explanation"}
    why = recs[0].explanation
    assert why["signal"] in ("history", "tags", "activity", "profile")
    if why["signal"] == "history":
        assert why["items"][0]["item_id"] == "jazz-01" and 0 < why["items"][0]["similarity"] <= 1
    anon = rec_demo.recommend("nobody", k=2)[0]
    assert anon.explanation["signal"] in ("catalogue-spread", "popularity", "catalogue-popularity")
    assert anon.explanation["personalised"] is False


@pytest.mark.parametrize(
    "kw, check",
    [
        ({"tags": ["cooking"]}, lambda r, rec: "cooking" in rec.get_item(r.item_id)["tags"]),
        ({"exclude": ["scie-01", "scie-02"]}, lambda r, rec: r.item_id not in ("scie-01", "scie-02")),
        ({"only": ["cook-01", "jazz-03", "horr-02"]}, lambda r, rec: r.item_id in ("cook-01", "jazz-03", "horr-02")),
        ({"where": lambda m: m.get("shelf") == "b"}, lambda r, rec: rec.get_item(r.item_id)["meta"]["shelf"] == "b"),
    ],
)
def test_filters(rec_demo: Recommender, demo_catalog: list[dict], kw: dict, check) -> None:
    rec_demo.add_items([{**it, "meta": {"shelf": "ab"[i % 2]}} for i, it in enumerate(demo_catalog)])
    grant(rec_demo, "f")
    rec_demo.set_profile("f", "science fiction and space")
    recs = rec_demo.recommend("f", k=3, **kw)
    assert recs and all(check(r, rec_demo) for r in recs)


def test_an_only_list_of_unknown_ids_gives_nothing_and_bad_filters_are_refused(rec_demo: Recommender) -> None:
    assert rec_demo.recommend("x", k=3, only=["no-such-item"]) == []
    with pytest.raises(TypeError):
        rec_demo.recommend("x", tags="cooking")  # a string is not a collection of tags
    with pytest.raises(TypeError):
        rec_demo.recommend("x", where="shelf == b")  # type: ignore[arg-type]


def test_recommend_many_equals_recommend_per_user(rec_demo: Recommender) -> None:
    for u, item in (("u1", "jazz-01"), ("u2", "cook-03")):
        grant(rec_demo, u)
        rec_demo.record(u, item, kind="like")
    many = rec_demo.recommend_many(["u1", "u2", "stranger"], k=4, diversity=0.0)
    assert list(many) == ["u1", "u2", "stranger"]
    for u in ("u1", "u2", "stranger"):
        assert [r.item_id for r in many[u]] == [r.item_id for r in rec_demo.recommend(u, k=4, diversity=0.0)]
    with pytest.raises(ArgumentError):
        rec_demo.recommend_many(["u1"], k=2, colour="red")


def test_similar_items(rec_demo: Recommender) -> None:
    sims = rec_demo.similar_items("jazz-01", k=5)
    assert len(sims) == 5 and "jazz-01" not in [r.item_id for r in sims]
    assert sum(topic_of(r.item_id) == "jazz" for r in sims) >= 4
    assert sims[0].explanation["signal"] == "similar" and sims[0].reason.startswith("Similar to")
    assert all(r.item_id != "jazz-02" for r in rec_demo.similar_items("jazz-01", k=5, exclude=["jazz-02"]))
    with pytest.raises(ItemNotFoundError):
        rec_demo.similar_items("nope")


def test_impressions_lower_an_item_a_little_and_do_not_count_as_seen(rec_demo: Recommender) -> None:
    grant(rec_demo, "i")
    rec_demo.set_profile("i", "jazz records")
    before = {r.item_id: r.score for r in rec_demo.recommend("i", k=10, diversity=0.0)}
    top = next(iter(before))
    rec_demo.record("i", top, kind="impression")
    after = {r.item_id: r.score for r in rec_demo.recommend("i", k=10, diversity=0.0)}
    assert top in after  # shown is not seen: still recommendable
    assert after[top] == pytest.approx(before[top] - 0.02, abs=1e-4)  # a little lower, the rest unchanged
    assert all(after[i] == pytest.approx(s, abs=1e-4) for i, s in before.items() if i != top and i in after)
    for _ in range(20):
        rec_demo.record("i", top, kind="impression")
    capped = {r.item_id: r.score for r in rec_demo.recommend("i", k=10, diversity=0.0)}
    assert capped.get(top, before[top] - 0.1) == pytest.approx(before[top] - 0.1, abs=1e-4)


def test_removed_items_are_never_recommended_and_come_back_when_added(rec_demo: Recommender, demo_catalog) -> None:
    jazz = [it for it in demo_catalog if it["id"].startswith("jazz-")]
    n = rec_demo.count_items()
    assert rec_demo.remove_items([it["id"] for it in jazz]) == len(jazz)
    assert rec_demo.remove_items([jazz[0]["id"]]) == 0  # already removed
    assert rec_demo.count_items() == n - len(jazz) and rec_demo.count_items(removed=True) == n
    recs = rec_demo.recommend("anyone", k=50)
    assert not any(r.item_id.startswith("jazz-") for r in recs)
    assert "removed" in rec_demo.get_item(jazz[0]["id"])
    assert all(r.item_id != jazz[1]["id"] for r in rec_demo.similar_items("jazz-01", k=30))
    rec_demo.add_items([jazz[1]])
    assert "removed" not in rec_demo.get_item(jazz[1]["id"])
    assert jazz[1]["id"] in [r.item_id for r in rec_demo.similar_items("jazz-01", k=30)]


def test_add_items_updates_the_snapshot_in_place(rec_demo: Recommender) -> None:
    rec_demo.recommend("x", k=1)
    snap = rec_demo._items.snapshot()  # noqa: SLF001 - the point is that it is the same object
    rec_demo.add_items([{"id": "new-1", "title": "Saxophone nights", "text": "Late jazz saxophone.", "tags": ["jazz"]}])
    assert rec_demo._items.snapshot() is snap and len(snap) == 201  # noqa: SLF001
    assert "new-1" in [r.item_id for r in rec_demo.similar_items("jazz-01", k=40)]
    with Recommender.open(rec_demo.info()["store"]) as other:  # another connection reloads and agrees
        assert "new-1" in [r.item_id for r in other.similar_items("jazz-01", k=40)]


def test_declared_context_keys(db_path: Path, demo_catalog) -> None:
    with Recommender.open(db_path, context_keys=["weather"]) as rec:
        rec.add_items(demo_catalog)
        for i in range(6):
            u = f"w{i}"
            grant(rec, u)
            rec.record(u, "cook-10", kind="like", context={"weather": "Rainy"})
        recs = rec.recommend("someone", k=3, context={"weather": "rainy"})
        assert recs[0].item_id == "cook-10" and "when weather is rainy" in recs[0].reason
        with pytest.raises(ArgumentError, match="unknown keys"):
            rec.recommend("someone", context={"season": "winter"})


def test_a_user_imported_with_1998_timestamps_is_personalised(rec_demo: Recommender) -> None:
    t0 = datetime(1998, 3, 1, tzinfo=timezone.utc).timestamp()
    grant(rec_demo, "old")
    sci = ["scie-01", "scie-02", "scie-03", "scie-04", "scie-05", "scie-06"]
    rec_demo.record_many(
        [{"user_id": "old", "item_id": i, "kind": "rating", "value": 5, "at": t0 + n * 3600} for n, i in enumerate(sci)]
    )
    recs = rec_demo.recommend("old", k=5)
    assert all(r.personalized for r in recs)
    assert sum(topic_of(r.item_id) == "scie" for r in recs) >= 4
    named = [r for r in recs if r.explanation["signal"] == "history"]
    assert named and all(r.explanation["items"][0]["item_id"] in sci for r in named)
    assert any("Because you rated" in r.reason for r in recs)


def test_long_memory_keeps_old_taste_beside_a_new_one(rec_demo: Recommender) -> None:
    grant(rec_demo, "m")
    now = time.time()
    old = [f"scie-{i:02d}" for i in range(1, 13)]
    rec_demo.record_many(
        [{"user_id": "m", "item_id": i, "kind": "like", "at": now - 400 * DAY + n * DAY} for n, i in enumerate(old)]
    )
    rec_demo.record_many([{"user_id": "m", "item_id": "cook-01", "kind": "like", "at": now - 60}])
    recs = rec_demo.recommend("m", k=10, diversity=0.0)
    # one new like does not take over: the year-old science-fiction taste still holds most of the list
    assert sum(topic_of(r.item_id) == "scie" for r in recs) >= 6


def test_open_refuses_a_missing_store_when_asked(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store at"):
        Recommender.open(tmp_path / "typo.db", create=False)
    with pytest.raises(StoreError, match="no store at"):
        Recommender.open(tmp_path / "typo.db", read_only=True)
    assert not (tmp_path / "typo.db").exists()


def test_read_only_store(tmp_path: Path, demo_catalog) -> None:
    db = tmp_path / "s.db"
    with Recommender.open(db) as rec:
        rec.add_items(demo_catalog)
        grant(rec, "u")
        rec.record("u", "jazz-01", kind="like")
    copy = tmp_path / "ro"
    copy.mkdir()
    shutil.copy(db, copy / "s.db")  # the main file alone, as on a read-only share
    with Recommender.open(copy / "s.db", read_only=True) as rec:
        assert rec.recommend("u", k=3)[0].personalized
        assert rec.similar_items("jazz-01", k=2)
        with pytest.raises(StoreError, match="read-only"):
            rec.record("u", "jazz-02", kind="like")


def test_logging_goes_through_the_standard_library(rec_demo: Recommender, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="ondevice_rec"):
        rec_demo.remove_items(["jazz-01"])
    assert any(r.name == "ondevice_rec" and "removed 1 items" in r.getMessage() for r in caplog.records)
