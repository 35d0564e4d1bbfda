from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from ondevice_rec import RankingConfig, Recommender
from ondevice_rec.demo import db_files_contain
from ondevice_rec.store import USER_TABLES

DAY = 86400.0


def _populate(rec: Recommender, user: str, profile: str) -> None:
    rec.consent(user).grant("personalization")
    rec.set_profile(user, profile)
    for item in ["jazz-01", "cook-02", "scie-03"]:
        rec.record(user, item, kind="like", context={"device": "mobile", "time": "evening"})
    rec.record(user, "horr-01", kind="dislike")
    rec.recommend(user, k=5)


def test_export_covers_every_table_that_holds_user_rows(rec_demo: Recommender, db_path: Path) -> None:
    _populate(rec_demo, "alice", "I like jazz")
    data = rec_demo.export_user("alice")
    json.dumps(data)  # JSON-serialisable
    con = sqlite3.connect(db_path)
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    with_uid = {t for t in tables if "uid" in [c[1] for c in con.execute(f"PRAGMA table_info({t})")]}
    assert with_uid - {"users"} == set(USER_TABLES)
    for t in USER_TABLES:
        assert data[t], f"export section {t} is empty"
    assert data["user"]["user_id"] == "alice"
    assert {e["item_id"] for e in data["events"]} == {"jazz-01", "cook-02", "scie-03", "horr-01"}
    assert data["profiles"][0]["text"] == "I like jazz"
    assert len(data["profile_vectors"][0]["pos"]) == 384  # derived data included
    assert data["consent_status"] == {"personalization": True}
    assert any(a["action"] == "export" for a in data["audit"])
    assert rec_demo.export_user("stranger")["found"] is False


def test_erasure_leaves_no_bytes_in_db_wal_or_shm(tmp_path: Path, demo_catalog: list[dict]) -> None:
    db = tmp_path / "e.db"
    uid, profile = "erase-me-7f3a@example.com", "Secret profile text about zebra finches and opera"
    with Recommender.open(db) as rec:
        rec.add_items(demo_catalog)
        # enough other users that the user-id index has interior pages holding key copies
        rec.record_many([{"user_id": f"other-user-{i:05d}-padding-padding", "item_id": "jazz-01"} for i in range(3000)])
        _populate(rec, uid, profile)
        rec.record_many(
            [{"user_id": f"other-user-{i:05d}-padding-padding-2", "item_id": "jazz-02"} for i in range(500)]
        )
        before = db_files_contain(db, uid.encode())
        assert sum(before.values()) > 0
        with Recommender.open(db) as other:  # a second open connection must not keep bytes alive
            other.recommend("someone", k=1)
            result = rec.forget_user(uid)
        assert result["user_found"] and result["rows_deleted"]["events"] == 4
        for needle in (uid.encode(), profile.encode(), b"zebra finches"):
            assert db_files_contain(db, needle) == {"e.db": 0, "e.db-wal": 0, "e.db-shm": 0}, needle
        assert rec.export_user(uid)["found"] is False
        assert rec.consent(uid).status() == {}
        # the erasure record says when and how much, with nothing derived from the id
        con = sqlite3.connect(db)
        audit = con.execute("SELECT action, subject, uid, details FROM audit WHERE action='erasure'").fetchall()
        assert len(audit) == 1 and audit[0][1] is None and audit[0][2] is None and uid not in audit[0][3]
        assert con.execute("SELECT count(*) FROM meta WHERE key='audit_key'").fetchone()[0] == 0
        # idempotent
        again = rec.forget_user(uid)
        assert again["user_found"] is False
        assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_erasure_removes_derived_popularity(db_path: Path, demo_catalog: list[dict]) -> None:
    with Recommender.open(db_path, config=RankingConfig(popularity_min_users=2)) as rec:
        rec.add_items(demo_catalog)
        for u in ("a", "b", "c"):
            rec.consent(u).grant("personalization")
            rec.record(u, "trav-03", kind="like")
        for u in ("a", "b"):
            rec.record(u, "trav-04", kind="like")
        assert {r.item_id for r in rec.recommend("anon", k=2, diversity=0.0)} == {"trav-03", "trav-04"}
        rec.forget_user("a")  # trav-04 now rests on one person: it must not show as popular any more
        top = rec.recommend("anon", k=2, diversity=0.0)
        assert top[0].item_id == "trav-03" and top[1].item_id != "trav-04"


def test_the_database_alone_cannot_confirm_that_a_guessed_id_was_erased(
    tmp_path: Path, demo_catalog: list[dict]
) -> None:
    import hashlib
    import hmac

    db = tmp_path / "g.db"
    with Recommender.open(db) as rec:
        rec.add_items(demo_catalog[:5])
        rec.record("guess-me@example.org", demo_catalog[0]["id"], kind="like")
        rec.forget_user("guess-me@example.org")
    con = sqlite3.connect(db)
    values = [str(v) for t in ("meta", "audit") for row in con.execute(f"SELECT * FROM {t}") for v in row if v]
    raw = b"".join(Path(str(db) + sfx).read_bytes() for sfx in ("", "-wal") if Path(str(db) + sfx).exists())
    guess = b"guess-me@example.org"
    digests = {hashlib.sha256(guess).hexdigest(), hashlib.md5(guess).hexdigest()}
    for key in values:  # any value in the file used as a key
        hexkey = len(key) % 2 == 0 and all(c in "0123456789abcdef" for c in key)
        for k in (key.encode(), bytes.fromhex(key) if hexkey else b""):
            digests.add(hmac.new(k, guess, hashlib.sha256).hexdigest())
    for d in digests:
        assert d.encode() not in raw and d[:32].encode() not in raw


def test_retention_deletes_old_events_on_open_and_on_demand(db_path: Path, demo_catalog: list[dict]) -> None:
    now = time.time()
    with Recommender.open(db_path) as rec:
        rec.add_items(demo_catalog[:30])
        rec.record("r", demo_catalog[0]["id"], kind="like", at=now - 400 * DAY)
        rec.record("r", demo_catalog[1]["id"], kind="like", at=now - 100 * DAY)
        rec.record("r", demo_catalog[2]["id"], kind="like", at=now - 1 * DAY)
        assert rec.apply_retention(200) == 1
    with Recommender.open(db_path, retention_days=30) as rec:
        events = rec.export_user("r")["events"]
        assert [e["item_id"] for e in events] == [demo_catalog[2]["id"]]
        assert any(a[0] == "retention" for a in rec._store.query("SELECT action FROM audit"))


def _ids_in_interior_index_pages(db: Path, prefix: bytes) -> set[bytes]:
    """User ids that SQLite copied into interior index b-tree pages (as divider keys)."""
    import re

    data = db.read_bytes()
    page_size = int.from_bytes(data[16:18], "big") or 65536
    found: set[bytes] = set()
    for start in range(0, len(data), page_size):
        page = data[start : start + page_size]
        header = page[100] if start == 0 else page[0]
        if header == 0x02:  # interior index b-tree page
            found.update(re.findall(re.escape(prefix) + rb"\d{5}", page))
    return found


def test_erasure_removes_divider_key_copies_in_index_pages(tmp_path: Path, demo_catalog: list[dict]) -> None:
    db = tmp_path / "k.db"
    with Recommender.open(db) as rec:
        rec.add_items(demo_catalog[:5])
        rec.record_many([{"user_id": f"divider-user-{i:05d}", "item_id": demo_catalog[0]["id"]} for i in range(4000)])
        rec._store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        dividers = sorted(_ids_in_interior_index_pages(db, b"divider-user-"))
        assert dividers, "test setup: expected user ids as divider keys in interior index pages"
        victim = dividers[len(dividers) // 2].decode()
        rec.forget_user(victim)
        assert db_files_contain(db, victim.encode()) == {"k.db": 0, "k.db-wal": 0, "k.db-shm": 0}


def test_a_read_only_store_exports_everything_and_says_the_export_was_not_audited(
    rec_demo: Recommender, db_path: Path, demo_catalog: list[dict]
) -> None:
    rec_demo.consent("u").grant("personalization")
    rec_demo.record("u", demo_catalog[0]["id"], kind="like")
    audit_before = len(rec_demo.export_user("u")["audit"])
    with Recommender.open(db_path, read_only=True) as ro:
        data = ro.export_user("u")
        assert data["found"] and len(data["events"]) == 1 and data["audited"] is False
        assert ro.recommend("u", k=2)  # read commands work on a read-only store
    after = rec_demo.export_user("u")
    assert after["audited"] is True and len(after["audit"]) == audit_before + 1  # only the writable export counted
