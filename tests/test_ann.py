"""The ANN search of large catalogues (live/ann.py, ranking.scoring.score_items_ann): the same top items as exact
scoring, persisted beside the store, current after this process's and other processes' writes."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ondevice_rec import Recommender
from ondevice_rec.live import ann
from ondevice_rec.live.ann import AnnIndex
from ondevice_rec.ranking import RankingConfig, score_items, score_items_ann
from ondevice_rec.ranking.scoring import UserState

pytest.importorskip("usearch")

# the demo catalogue has 200 items: searched through the index from 50, with few candidates per round so that
# the popularity join and the growing rounds are exercised
ANN = RankingConfig(ann_min_items=50, ann_candidates=5, ann_popular=5, candidate_pool=30)
EXACT = replace(ANN, ann_min_items=0, prefilter_min_items=0)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("seed", range(12))
def test_the_join_with_popularity_finds_the_exact_top_k(seed: int) -> None:
    """With an exact nearest-neighbour list, the union with the popularity order and the threshold rounds give
    exactly the top k of scoring every item (popularity heavy, contexts, dislikes, filters, an item-item blend)."""
    rng = np.random.default_rng(seed)
    n, d = 4000, 24
    centres = rng.standard_normal((30, d))
    matrix = _unit(centres[rng.integers(0, 30, n)] + 0.6 * rng.standard_normal((n, d)))
    pop = (np.log1p(1e4 / (1.0 + rng.permutation(n))) / np.log1p(1e4)).astype(np.float32)
    ctx = rng.random(n).astype(np.float32) if seed % 2 else None
    extra = np.zeros(n, np.float32)
    extra[rng.choice(n, 15, replace=False)] = 0.3
    pos = _unit(rng.standard_normal(d))
    neg = _unit(rng.standard_normal(d)) if seed % 3 == 0 else None
    state = UserState(pos, neg, np.zeros(0, np.int64), np.zeros(0, np.float32), [], [], None)
    allowed = rng.random(n) > 0.1
    cfg = RankingConfig(popularity_weight=[0.04, 1.0, 3.0][seed % 3], ann_candidates=50, ann_popular=100)
    calls: list[int] = []

    def nearest(v: np.ndarray, m: int, ok: np.ndarray) -> tuple[np.ndarray, bool]:
        calls.append(m)
        return np.argsort(-(matrix @ v), kind="stable")[:m], True

    by_pop = np.argsort(-pop, kind="stable")

    def order(m: int, vectors: bool) -> tuple[np.ndarray, np.ndarray | None]:
        return by_pop[:m], matrix[by_pop[:m]] if vectors else None

    blend = extra if seed % 2 else None
    scores, mask = score_items_ann(state, matrix, nearest, order, pop, ctx, allowed, cfg, blend, 10)
    exact = score_items(state, matrix, pop, ctx, cfg) + (0 if blend is None else blend)
    exact[~allowed] = -np.inf
    top = np.argsort(-np.where(mask, scores, -np.inf), kind="stable")[:10]
    want = np.argsort(-exact, kind="stable")[:10]
    assert set(top.tolist()) == set(want.tolist())
    np.testing.assert_allclose(scores[top], exact[top], rtol=1e-5, atol=1e-6)
    assert calls and calls[0] == 200  # 20 per item asked for, at least ann_candidates


def _catalogue(db: Path, items: list[dict], cfg: RankingConfig = ANN) -> Recommender:
    rec = Recommender.open(db, config=cfg)
    rec.add_items(items)
    t = 1.7e9
    for u, picks in (("a", items[:12]), ("b", items[100:103]), ("c", items[150:190:3])):
        rec.consent(u).grant("personalization")
        events = [{"user_id": u, "item_id": it["id"], "kind": "like", "at": t + i} for i, it in enumerate(picks)]
        rec.record_many(events)
    return rec


def _tops(rec: Recommender, probes: list[str]) -> list[list[str]]:
    out = [[r.item_id for r in rec.recommend(u, k=10)] for u in ("a", "b", "c", "nobody")]
    out += [[r.item_id for r in rec.recommend(u, k=10, diversity=0.0)] for u in ("a", "b", "c")]
    return out + [[r.item_id for r in rec.similar_items(i, k=8, diversity=0.0)] for i in probes]


def test_recommendations_through_the_index_equal_exact_scoring(tmp_path: Path, demo_catalog) -> None:
    probes = [it["id"] for it in demo_catalog[::23]]
    with _catalogue(tmp_path / "s.db", demo_catalog) as rec:
        got = _tops(rec, probes)
        assert rec._items._snap.ann is not None and len(rec._items._snap.ann) == len(demo_catalog)
    with Recommender.open(tmp_path / "s.db", config=EXACT) as ex:
        assert ex._items.snapshot().ann is None
        assert _tops(ex, probes) == got


def test_the_index_is_saved_beside_the_store_and_read_back(tmp_path: Path, demo_catalog, monkeypatch) -> None:
    db = tmp_path / "s.db"
    with _catalogue(db, demo_catalog) as rec:
        before = _tops(rec, [demo_catalog[5]["id"]])
    index, header = ann.paths(db)
    assert index.is_file() and json.loads(header.read_text())["header"]["size"] == len(demo_catalog)

    def no_build(*a, **k):
        raise AssertionError("rebuilt although a current index was saved")

    monkeypatch.setattr(AnnIndex, "build", no_build)
    with Recommender.open(db, config=ANN) as rec:
        assert _tops(rec, [demo_catalog[5]["id"]]) == before


def test_own_additions_are_searchable_at_once_and_saved_on_close(tmp_path: Path, demo_catalog) -> None:
    db = tmp_path / "s.db"
    twin = {**demo_catalog[7], "id": "twin-of-7"}  # the same text: the nearest item there is
    with _catalogue(db, demo_catalog) as rec:
        rec.recommend("a", k=5)
        rec.add_items([twin])
        assert rec.similar_items(demo_catalog[7]["id"], k=1, diversity=0.0)[0].item_id == "twin-of-7"
        assert len(rec._items._snap.ann) == len(demo_catalog) + 1
    assert json.loads(ann.paths(db)[1].read_text())["header"]["size"] == len(demo_catalog) + 1


def test_another_process_writes_are_caught_up_by_updated_at(tmp_path: Path, demo_catalog, monkeypatch) -> None:
    db = tmp_path / "s.db"
    with _catalogue(db, demo_catalog[:150]) as rec:
        time.sleep(1.1)  # older than the catch-up's second of slack: only the 10 below are re-added
        rec.recommend("a", k=5)  # index of 150 saved
    with Recommender.open(db, config=ANN) as other:
        other.add_items(demo_catalog[150:160])  # another process: no snapshot of its own yet, the file stays at 150
    built: list[int] = []
    real = AnnIndex.build

    def counting(*a, **k):
        built.append(1)
        return real(*a, **k)

    monkeypatch.setattr(AnnIndex, "build", counting)
    with Recommender.open(db, config=ANN) as rec:
        top = rec.similar_items(demo_catalog[155]["id"], k=3, diversity=0.0)
        assert len(rec._items._snap.ann) == 160 and not built
        with Recommender.open(db, config=EXACT) as ex:
            assert [r.item_id for r in top] == [r.item_id for r in ex.similar_items(demo_catalog[155]["id"], k=3)]


def test_a_file_of_another_store_is_rebuilt(tmp_path: Path, demo_catalog) -> None:
    with _catalogue(tmp_path / "one.db", demo_catalog) as rec:
        rec.recommend("a", k=5)
    with _catalogue(tmp_path / "two.db", demo_catalog[:100]) as rec:
        rec.recommend("a", k=5)
    for src, dst in zip(ann.paths(tmp_path / "one.db"), ann.paths(tmp_path / "two.db")):
        dst.write_bytes(src.read_bytes())  # the first store's index under the second's name
    assert (
        AnnIndex.load(tmp_path / "two.db", epoch="x", space_id="y", dim=384, connectivity=16, expansion_search=64)
        is None
    )
    with Recommender.open(tmp_path / "two.db", config=ANN) as rec:
        rec.recommend("a", k=5)
        assert len(rec._items._snap.ann) == 100


def test_a_damaged_file_is_rebuilt(tmp_path: Path, demo_catalog) -> None:
    db = tmp_path / "s.db"
    with _catalogue(db, demo_catalog) as rec:
        before = _tops(rec, [])
    index = ann.paths(db)[0]
    index.write_bytes(index.read_bytes()[:1000])
    with Recommender.open(db, config=ANN) as rec:
        assert _tops(rec, []) == before
    assert index.stat().st_size > 1000


def test_a_read_only_store_keeps_its_index_in_memory(tmp_path: Path, demo_catalog) -> None:
    db = tmp_path / "s.db"
    with _catalogue(db, demo_catalog, EXACT) as rec:
        rec.recommend("a", k=5)
    with Recommender.open(db, config=ANN, read_only=True) as ro:
        ro.recommend("a", k=5)
        assert ro._items._snap.ann is not None
    assert not ann.paths(db)[0].exists()


def test_without_usearch_large_catalogues_say_so_and_search_coarse_to_fine(
    tmp_path: Path, demo_catalog, monkeypatch, caplog
) -> None:
    monkeypatch.setattr(ann, "available", lambda: False)
    with caplog.at_level(logging.WARNING, logger="ondevice_rec"), _catalogue(tmp_path / "s.db", demo_catalog) as rec:
        assert rec.recommend("a", k=5)
        assert rec._items._snap.ann is None
    assert "pip install 'ondevice-rec[scale]'" in caplog.text


def test_the_index_keeps_unit_vectors_in_int8_and_others_in_float16() -> None:
    rng = np.random.default_rng(0)
    unit = _unit(rng.standard_normal((50, 8)))
    assert AnnIndex.dtype_for(unit) == "i8"
    assert AnnIndex.dtype_for(unit * 3) == "f16"


def test_a_catalogue_import_builds_the_index_before_the_first_request(tmp_path: Path, demo_catalog) -> None:
    src = tmp_path / "catalog.jsonl"
    src.write_text("".join(json.dumps(it) + "\n" for it in demo_catalog), encoding="utf-8")
    with Recommender.open(tmp_path / "s.db", config=ANN) as rec:
        rec.import_items(src)
        assert ann.paths(tmp_path / "s.db")[0].is_file()  # the next process opens it instead of building it


def test_items_with_identical_vectors_are_indexed_once_and_found_together(tmp_path: Path, demo_catalog) -> None:
    """Many items can share one vector (texts the model reads as the same tokens); an HNSW graph cannot reach
    into such a group, so the index holds one of them and a search returns the others with it."""
    twins = [{**demo_catalog[9], "id": f"twin-{i}"} for i in range(6)]
    with _catalogue(tmp_path / "s.db", demo_catalog + twins) as rec:
        rec.recommend("a", k=5)
        # the six twins were embedded in one batch: one vector, one entry (the int8 encoder's dynamic
        # quantisation gives the original, embedded in another batch, a slightly different one)
        assert len(rec._items._snap.ann) == len(demo_catalog) + 1
        got = {r.item_id for r in rec.similar_items(demo_catalog[9]["id"], k=6, diversity=0.0)}
        assert got == {t["id"] for t in twins}
        rec.add_items([{**demo_catalog[9], "id": "twin-late"}])  # a twin added in place is found too
        assert "twin-late" in {r.item_id for r in rec.similar_items(demo_catalog[9]["id"], k=7, diversity=0.0)}
    with Recommender.open(tmp_path / "s.db", config=ANN) as rec:  # the groups are saved with the index
        assert got <= {r.item_id for r in rec.similar_items(demo_catalog[9]["id"], k=7, diversity=0.0)}


def test_twins_are_found_by_their_vectors_bits() -> None:
    from ondevice_rec.live.ann import Twins

    rng = np.random.default_rng(0)
    m = _unit(rng.standard_normal((40, 8)))
    m[[3, 17, 30]] = m[5]
    m[21] = m[5] + 1e-3  # close, not equal: its own entry
    twins, keep = Twins.of(np.arange(100, 140), m)
    assert twins.groups == [[103, 105, 117, 130]] and 117 not in (keep + 100).tolist() and 121 in keep + 100
    members, rank = twins.members(np.asarray([1, 117]))
    assert sorted(members.tolist()) == [103, 105, 117, 130] and rank.tolist() == [0, 0, 0, 0]


def test_small_requests_go_through_the_index_and_match_exact_scoring(tmp_path: Path, demo_catalog) -> None:
    """k=1 asks the index for 20 rows of 200 (the search path, twins and the popular join), not a full scan."""
    probes = [it["id"] for it in demo_catalog[::17]]
    with _catalogue(tmp_path / "s.db", demo_catalog) as rec:
        calls: list[int] = []
        snap = rec._items.snapshot()
        real = snap.nearest_rows
        snap.nearest_rows = lambda v, m, ok: (calls.append(m), real(v, m, ok))[1]  # type: ignore[method-assign]
        got = [[r.item_id for r in rec.recommend(u, k=1, diversity=0.0)] for u in ("a", "b", "c")]
        got += [[r.item_id for r in rec.similar_items(i, k=1, diversity=0.0)] for i in probes]
        assert calls and min(calls) == 20
        # a filter that leaves a few items still fills the page (scored exactly, not starved by the lists)
        few = [it["id"] for it in demo_catalog[120:124]]
        assert {r.item_id for r in rec.recommend("a", k=3, only=few)} <= set(few)
        assert len(rec.recommend("a", k=3, only=few)) == 3
    with Recommender.open(tmp_path / "s.db", config=EXACT) as ex:
        want = [[r.item_id for r in ex.recommend(u, k=1, diversity=0.0)] for u in ("a", "b", "c")]
        want += [[r.item_id for r in ex.similar_items(i, k=1, diversity=0.0)] for i in probes]
    assert got == want


def test_another_process_changing_only_priors_costs_no_rebuild(tmp_path: Path, demo_catalog, monkeypatch) -> None:
    db = tmp_path / "s.db"
    with _catalogue(db, demo_catalog) as rec:
        time.sleep(1.1)
        rec.recommend("a", k=5)  # index saved
    with Recommender.open(db, config=EXACT) as other:  # another process: priors of every item, two removals
        other.set_priors({it["id"]: float(i) for i, it in enumerate(demo_catalog)})
        other.remove_items([demo_catalog[0]["id"], demo_catalog[1]["id"]])
    written: list[int] = []
    monkeypatch.setattr(AnnIndex, "build", lambda *a, **k: pytest.fail("rebuilt for a change of priors"))
    real = AnnIndex.upsert
    monkeypatch.setattr(
        AnnIndex, "upsert", lambda self, iids, vecs: (written.append(len(iids)), real(self, iids, vecs))
    )
    with Recommender.open(db, config=ANN) as rec:
        assert rec.recommend("a", k=1) and sum(written) == 0
