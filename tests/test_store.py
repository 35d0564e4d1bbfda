from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ondevice_rec import Recommender, StoreError
from ondevice_rec.store import SCHEMA_VERSION, Store, statements


def test_pragmas_and_schema(db_path: Path) -> None:
    s = Store(db_path)
    q = lambda sql: s.query(sql)[0][0]  # noqa: E731
    assert q("PRAGMA journal_mode") == "wal"
    assert q("PRAGMA secure_delete") == 1
    assert q("PRAGMA foreign_keys") == 1
    assert q("PRAGMA busy_timeout") == 10_000
    assert s.meta("schema_version") == str(SCHEMA_VERSION)
    assert {
        "items",
        "item_vectors",
        "events",
        "profiles",
        "profile_vectors",
        "consents",
        "audit",
        "users",
        "item_stats",
        "meta",
    } <= set(s.db.table_names())
    s.close()
    s2 = Store(db_path)  # reopening does not migrate again
    assert s2.meta("schema_version") == str(SCHEMA_VERSION)
    s2.close()


def test_newer_schema_is_refused(db_path: Path) -> None:
    Store(db_path).close()
    con = sqlite3.connect(db_path)
    con.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer than this odrec supports"):
        Store(db_path)


def test_corrupt_or_unreadable_file_raises_store_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="bad.db"):
        Recommender.open(bad)
    with pytest.raises(StoreError, match="directory"):
        Store(tmp_path)
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "no" / "such" / "dir.db")


def test_write_is_all_or_nothing(db_path: Path) -> None:
    s = Store(db_path)
    with pytest.raises(RuntimeError), s.write() as conn:
        statements.ensure_uid(conn, "alice")
        raise RuntimeError("boom")
    assert s.users.uid("alice") is None
    with s.write() as conn:
        statements.ensure_uid(conn, "alice")
    assert s.users.uid("alice") is not None


def test_several_recommenders_share_one_file(db_path: Path, demo_catalog: list[dict]) -> None:
    with Recommender.open(db_path) as a:
        a.add_items(demo_catalog[:50])
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with Recommender.open(db_path) as r:
                for i in range(20):
                    r.record(f"user{n}", demo_catalog[i]["id"], kind="like")
                    r.recommend(f"user{n}", k=3)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with Recommender.open(db_path) as r:
        assert r.info()["events"] == 80


def test_a_version_1_store_is_migrated_and_seen_items_use_the_index(db_path: Path) -> None:
    s = Store(db_path)
    with s.write() as conn:
        conn.execute("DROP INDEX events_uid_iid")
        conn.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    s.close()
    s = Store(db_path)
    assert s.meta("schema_version") == str(SCHEMA_VERSION) == "7"
    plan = " ".join(str(r) for r in s.query("EXPLAIN QUERY PLAN SELECT min(iid) FROM events WHERE uid=1 AND iid > 5"))
    assert "events_uid_iid" in plan
    s.close()


# --- the vector cache beside the store ----------------------------------------------------------------
def _cached(db: Path, **kw: Any) -> Recommender:
    from ondevice_rec.ranking import RankingConfig

    # a tiny catalogue treated as a large one: float16 vectors, coarse-to-fine search, a vector cache
    cfg = RankingConfig(vector_cache_min_items=10, prefilter_min_items=10, half_precision_min_items=10)
    return Recommender.open(db, config=cfg, **kw)


def _top(rec: Recommender) -> list[str]:
    return [r.item_id for r in rec.recommend("u", k=10)]


def test_vector_cache_is_written_used_and_refused_when_it_does_not_match(
    db_path: Path, demo_catalog: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ondevice_rec.store import vector_cache
    from ondevice_rec.store.catalog import CatalogTable

    cache = vector_cache.cache_path(db_path)
    with _cached(db_path) as rec:
        rec.add_items(demo_catalog[:60])
        rec.consent("u").grant("personalization")
        rec.record("u", demo_catalog[0]["id"], kind="like")
    with _cached(db_path) as rec:
        want = _top(rec)  # a fresh process scans SQLite once and writes the cache
    assert cache.is_file()
    real_scan = CatalogTable._scan
    scans: list[int] = []

    def counting(self: Any, *a: Any, **k: Any) -> Any:
        scans.append(1)
        return real_scan(self, *a, **k)

    monkeypatch.setattr(CatalogTable, "_scan", counting)
    from ondevice_rec.live import snapshot

    real_build = snapshot.build_prefilter
    monkeypatch.setattr(snapshot, "build_prefilter", lambda *a, **k: pytest.fail("prefilter rebuilt"))
    with _cached(db_path) as rec:
        assert _top(rec) == want and not scans  # vectors and prefilter served from the cache, same ranking
    monkeypatch.setattr(snapshot, "build_prefilter", real_build)
    with _cached(db_path, read_only=True) as rec:
        assert _top(rec) == want and not scans  # a read-only open may read a valid cache
    # another connection changes the catalogue: the cache no longer matches and is rewritten
    with _cached(db_path) as rec:
        rec.add_items(demo_catalog[60:80])
    with _cached(db_path) as rec:
        _top(rec)
    assert len(scans) == 1
    with _cached(db_path) as rec:
        _top(rec)
    assert len(scans) == 1
    # a damaged cache is ignored (scan), never trusted
    cache.write_bytes(cache.read_bytes()[:-100])
    with _cached(db_path) as rec:
        assert len(rec.recommend("u", k=10)) == 10
    assert len(scans) == 2
    # a read-only open never writes one
    cache.unlink()
    with _cached(db_path, read_only=True) as rec:
        _top(rec)
    assert not cache.exists()


def test_a_store_recreated_at_the_same_path_never_uses_the_old_cache(db_path: Path, demo_catalog: list[dict]) -> None:
    from ondevice_rec.store import vector_cache

    with _cached(db_path) as rec:
        rec.add_items(demo_catalog[:40])
    with _cached(db_path) as rec:
        rec.recommend("nobody", k=5)
    old = vector_cache.cache_path(db_path).read_bytes()
    for f in db_path.parent.glob(db_path.name + "*"):
        if f.name != db_path.name + vector_cache.SUFFIX:
            f.unlink()
    other = [dict(it, text="Completely different words about gardening and soil.") for it in demo_catalog[:40]]
    with _cached(db_path) as rec:  # same ids, same count, same catalogue version: only the epoch differs
        rec.add_items(other)
    with _cached(db_path) as rec:
        rec.recommend("nobody", k=5)
    assert vector_cache.cache_path(db_path).read_bytes() != old  # rebuilt from the new store


def test_row_by_row_recovery_skips_rowid_gaps(tmp_path: Path) -> None:
    """A table whose rowids span 2**62 (as a garbage max(rowid) on a damaged page can) is copied in a few
    reads, not in 2**62 / 500 range probes."""
    import sqlite3
    import time

    from ondevice_rec.store.doctor import _copy_table

    src = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    src.execute("CREATE TABLE t (x TEXT)")
    src.executemany("INSERT INTO t(rowid, x) VALUES (?, ?)", [(1, "a"), (2, "b"), (1 << 62, "far")])
    out = sqlite3.connect(tmp_path / "b.db", isolation_level=None)
    out.execute("CREATE TABLE t (x TEXT)")
    t = time.monotonic()
    assert _copy_table(src, out, "t") == (3, 0)
    assert time.monotonic() - t < 5
    assert [r[0] for r in out.execute("SELECT x FROM t ORDER BY rowid")] == ["a", "b", "far"]


def test_doctor_quotes_table_names_read_from_the_file(tmp_path: Path) -> None:
    """Issue 30: a table name in a crafted or damaged file is one identifier, never SQL."""
    import sqlite3

    from ondevice_rec.store.doctor import diagnose, quote_ident

    db = tmp_path / "crafted.db"
    con = sqlite3.connect(db)
    evil = 'x"; DROP TABLE keep; --'
    con.execute("CREATE TABLE keep (v TEXT)")
    con.execute("INSERT INTO keep VALUES ('still here')")
    con.execute(f"CREATE TABLE {quote_ident(evil)} (v TEXT)")
    con.execute(f"INSERT INTO {quote_ident(evil)} VALUES ('a'), ('b')")
    con.commit()
    con.close()
    assert quote_ident('a"b') == '"a""b"'
    d = diagnose(db)
    assert d.tables[evil] == 2 and d.tables["keep"] == 1
    con = sqlite3.connect(db)
    assert con.execute("SELECT v FROM keep").fetchall() == [("still here",)]
    con.close()


# --- int8 rows with one scale per row (large catalogues) -------------------------------------------------------
def test_quantized_rows_read_back_close_and_append_in_place() -> None:
    from ondevice_rec.store.rows import QuantizedRows

    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 48)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    m = QuantizedRows.of(x)
    err = np.abs(m[:] - x).max(axis=1)
    assert np.all(err <= np.abs(x).max(axis=1) / 254 + 1e-7)  # half a step of each row's own scale
    assert m[3].shape == (48,) and m[np.array([4, 2])].shape == (2, 48) and m.shape == (500, 48)
    q = rng.standard_normal(48).astype(np.float32)
    q /= np.linalg.norm(q)
    assert np.abs(m[:] @ q - x @ q).max() < 0.005  # a unit query: scores within a few thousandths
    m[7] = np.zeros(48, np.float32)  # a zero row stays zero (no division by a zero scale)
    assert not m[7].any()
    grown = m.appended(x[:3])
    assert grown.shape == (503, 48) and grown.q.base is m.q.base  # into the spare rows, no copy
    np.testing.assert_allclose(grown[500:], m[:3], atol=1e-6)
    assert m.shape == (500, 48)  # the original view is unchanged
    big = m.appended(np.tile(x, (3, 1)))  # beyond the spare rows: a new buffer with everything
    np.testing.assert_allclose(big[:500], m[:], atol=1e-7)


def test_int8_catalogues_rank_like_float32_and_survive_the_vector_cache(
    db_path: Path, demo_catalog: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ondevice_rec.ranking import RankingConfig
    from ondevice_rec.store import vector_cache
    from ondevice_rec.store.catalog import CatalogTable
    from ondevice_rec.store.rows import QuantizedRows

    int8 = RankingConfig(int8_min_items=10, vector_cache_min_items=10, prefilter_min_items=0, ann_min_items=0)
    full = RankingConfig(half_precision_min_items=0, prefilter_min_items=0, ann_min_items=0)
    with Recommender.open(db_path, config=int8) as rec:
        rec.add_items(demo_catalog[:150])
        for n in range(12):
            rec.consent(f"u{n}").grant("personalization")
            likes = [{"user_id": f"u{n}", "item_id": it["id"], "kind": "like"} for it in demo_catalog[n:150:13]]
            rec.record_many(likes)

    def tops(rec: Recommender) -> list[set[str]]:
        return [{r.item_id for r in rec.recommend(f"u{n}", k=10, diversity=0.0)} for n in range(12)]

    with Recommender.open(db_path, config=int8) as rec:
        assert isinstance(rec._items.snapshot().matrix, QuantizedRows)
        tops(rec)  # scanned from SQLite, cache written
        rec.add_items(demo_catalog[150:160])  # appended in place
        assert rec._items.snapshot().matrix.shape[0] == 160
        got = tops(rec)
    with Recommender.open(db_path, config=full) as rec:
        want = tops(rec)
    overlap = [len(a & b) / 10 for a, b in zip(got, want)]
    assert np.mean(overlap) >= 0.98, overlap
    with Recommender.open(db_path, config=int8) as rec:
        want = tops(rec)  # the catalogue changed since the cache was written: scanned again, cache rewritten
    assert vector_cache.cache_path(db_path).is_file()
    monkeypatch.setattr(CatalogTable, "_scan", lambda *a, **k: pytest.fail("scanned although the cache matches"))
    with Recommender.open(db_path, config=int8) as rec:
        rows = rec._items.snapshot().matrix
        assert isinstance(rows, QuantizedRows) and rows.shape[0] == 160
        assert tops(rec) == want  # served from the int8 cache with its row scales


@pytest.mark.parametrize("durability, level", [("normal", 1), ("full", 2)])
def test_durability_sets_what_a_commit_waits_for(tmp_path: Path, durability: str, level: int) -> None:
    """Issue 30: ``durability="full"`` fsyncs the WAL at every commit (survives power loss), "normal" does not."""
    with Recommender.open(tmp_path / "r.db", durability=durability) as rec:
        assert rec._store.query("PRAGMA synchronous")[0][0] == level


def test_an_unknown_durability_is_one_line(tmp_path: Path) -> None:
    from ondevice_rec import ArgumentError

    with pytest.raises(ArgumentError, match="durability must be one of normal, full"):
        Recommender.open(tmp_path / "r.db", durability="paranoid")
