"""The export's item-item tables: EASE's neighbours, and the choice of table and weight on validation."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy")

from ondevice_rec.datasets import Split  # noqa: E402
from ondevice_rec.export import item_item as II  # noqa: E402


def _split(n_users: int = 120, n_items: int = 50, seed: int = 0) -> Split:
    """Two taste groups (even and odd items) so that neighbours mean something."""
    rng = np.random.default_rng(seed)
    seqs = [rng.choice(np.arange(u % 2, n_items, 2), 7, replace=False) for u in range(n_users)]
    return Split(
        dataset="t",
        user_ids=[f"u{u}" for u in range(n_users)],
        item_ids=[str(i) for i in range(n_items)],
        train=[s[:5] for s in seqs],
        valid=np.array([s[5] for s in seqs]),
        test=np.array([s[6] for s in seqs]),
        item_text=[f"item {i}" for i in range(n_items)],
        item_title=[f"item {i}" for i in range(n_items)],
        item_tags=[() for _ in range(n_items)],
    )


def test_ease_neighbours_keep_each_rows_largest_positive_weights() -> None:
    from ondevice_rec.ranking.ease import ease_weights

    split, lam, k = _split(), 10.0, 7
    b = ease_weights(split.train, split.n_items, lam)
    nb = II.ease_neighbours(split, lam, neighbours=k, block=16)  # blocks smaller than the catalogue
    assert nb.n_items == split.n_items
    for i in range(split.n_items):
        got = nb.indices[nb.indptr[i] : nb.indptr[i + 1]]
        w = nb.weights[nb.indptr[i] : nb.indptr[i + 1]]
        want = [j for j in np.argsort(-b[i], kind="stable")[:k] if b[i, j] > 0]
        assert sorted(got.tolist()) == sorted(want) and i not in got.tolist()
        assert np.allclose(w, b[i, got], rtol=2e-3, atol=1e-4)  # float16 storage
        assert np.all(np.diff(w) <= 0)  # strongest first


def test_the_blend_chooses_a_table_and_weight_on_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    split = _split()
    tables = II.candidate_tables(split)
    assert list(tables) == ["cosine", *(f"ease-{lam:g}" for lam in II.EASE_LAMBDAS)]
    rng = np.random.default_rng(1)
    item_vecs = rng.normal(size=(split.n_items, 8)).astype(np.float32)  # a student that knows nothing
    table, half_life, weight, report = II.choose_weight(
        lambda hs: rng.normal(size=(len(hs), 8)).astype(np.float32), item_vecs, split, tables, None
    )
    assert weight > 0 and table in tables and report["chosen_table"] == table  # neighbours carry the groups
    assert report["chosen_half_life"] == half_life and report["chosen"] == II.variant(table, half_life)
    assert len(report["valid_ndcg10"]) == len(tables) * len(II.HALF_LIVES)
    best = report["valid_ndcg10"][report["chosen"]][str(weight)]
    assert all(best >= v for fig in report["valid_ndcg10"].values() for v in fig.values())
    monkeypatch.setattr(II, "EASE_MAX_ITEMS", split.n_items - 1)
    assert list(II.candidate_tables(split)) == ["cosine"]  # a catalogue too large for the dense inverse


def _pairs_split(n_users: int = 200, n_items: int = 60, seed: int = 3) -> Split:
    """Items come in pairs (2k, 2k+1) watched one after the other; validation asks for the partner of the last
    history item."""
    rng = np.random.default_rng(seed)
    seqs = []
    for _ in range(n_users):
        firsts = rng.choice(np.arange(0, n_items, 2), 5, replace=False)
        seqs.append(np.concatenate([[f, f + 1] for f in firsts[:4]] + [[firsts[4]]]))
    return Split(
        dataset="t", user_ids=[f"u{u}" for u in range(n_users)], item_ids=[str(i) for i in range(n_items)],
        train=[s[:7] for s in seqs], valid=np.array([s[7] for s in seqs]), test=np.array([s[8] for s in seqs]),
        item_text=[""] * n_items, item_title=[""] * n_items, item_tags=[() for _ in range(n_items)],
    )  # fmt: skip


def test_the_blend_chooses_a_recency_half_life_when_the_next_item_follows_the_last() -> None:
    """The whole history's summed neighbours drown the last item's partner among the other items'."""
    split = _pairs_split()
    n_items = split.n_items
    tables = {"cosine": II.build_neighbours(split)}
    _, half_life, weight, report = II.choose_weight(
        lambda hs: np.ones((len(hs), 4), np.float32), np.zeros((n_items, 4), np.float32), split, tables, None
    )
    assert weight > 0 and half_life is not None
    fig = report["valid_ndcg10"]
    assert fig[II.variant("cosine", half_life)][str(weight)] > max(fig["cosine"].values())


def test_ranks_for_all_weights_at_once_match_rank_of_target() -> None:
    from ondevice_rec.eval.metrics import rank_of_target

    rng = np.random.default_rng(4)
    ws = np.asarray(II.WEIGHTS, np.float32)[:, None]
    for _ in range(50):
        n = int(rng.integers(5, 40))
        base = rng.integers(0, 3, n).astype(np.float32)  # many ties
        co = rng.integers(0, 3, n).astype(np.float32)
        cand = np.flatnonzero(rng.random(n) < 0.8)
        target = int(cand[0]) if len(cand) else 0
        cand = np.union1d(cand, [target])
        got = II._ranks(base, co, ws, target, cand)
        assert got == [rank_of_target(base + np.float32(w) * co, target, cand) for w in II.WEIGHTS]


def test_a_merged_table_scores_the_weighted_sum_of_its_two_tables() -> None:
    split = _split()
    a, b = II.build_neighbours(split), II.successors_of(split)
    m = II.merged(a, b, 0.3)
    rng = np.random.default_rng(5)
    for _ in range(20):
        hist = rng.choice(split.n_items, 6, replace=False)
        ew = rng.random(6).astype(np.float32)
        want = a.scores(hist, entry_weights=ew) + 0.3 * b.scores(hist, entry_weights=ew)
        assert np.allclose(m.scores(hist, entry_weights=ew), want, rtol=2e-3, atol=1e-3)  # float16 storage


def test_the_blend_adds_successors_where_the_order_matters() -> None:
    """Items come in triples (a, b, c), always in that order; the users asked for the item after b never saw a,
    so co-occurrence ranks a and c alike after b, and only what follows b says c."""
    rng = np.random.default_rng(7)
    n_triples = 20
    n_items, seqs = 3 * n_triples, []
    for _ in range(300):
        ts = rng.choice(n_triples, 4, replace=False)
        seq = [3 * t + j for t in ts[:3] for j in range(3)] + [3 * ts[3] + 1, 3 * ts[3] + 2, 3 * ts[3]]
        seqs.append(np.asarray(seq))  # validation: c after b; test: a
    split = Split(
        dataset="t", user_ids=[f"u{u}" for u in range(300)], item_ids=[str(i) for i in range(n_items)],
        train=[s[:10] for s in seqs], valid=np.array([s[10] for s in seqs]), test=np.array([s[11] for s in seqs]),
        item_text=[""] * n_items, item_title=[""] * n_items, item_tags=[() for _ in range(n_items)],
    )  # fmt: skip
    tables = {"cosine": II.build_neighbours(split)}
    table, half_life, weight, report = II.choose_blend(
        lambda hs: np.ones((len(hs), 4), np.float32), np.zeros((n_items, 4), np.float32), split, tables, None
    )
    gain = report["successor_gain"]
    assert report["successor_factor"] > 0 and gain["mean"] > gain["se"]
    assert report["chosen_table"] == f"cosine + successors × {report['successor_factor']:g}"
    tried = report["valid_ndcg10"]
    assert tried[report["chosen"]][str(weight)] > max(tried[report["table_alone"]["chosen"]].values())
    rebuilt = II.table_named(split, report["chosen_table"])  # what the ablation scripts rebuild from the report
    assert table is not None and np.array_equal(rebuilt.indptr, table.indptr)
    assert np.array_equal(rebuilt.indices, table.indices) and np.array_equal(rebuilt.weights, table.weights)


def test_the_blend_tries_the_chosen_table_with_successors_added() -> None:
    split = _pairs_split()
    tables = {"cosine": II.build_neighbours(split)}
    table, half_life, weight, report = II.choose_blend(
        lambda hs: np.ones((len(hs), 4), np.float32), np.zeros((split.n_items, 4), np.float32), split, tables, None
    )
    assert weight > 0 and table is not None
    alone = report["table_alone"]["chosen"]
    assert alone.startswith("cosine") and report["chosen_half_life"] == half_life
    tried = report["valid_ndcg10"]
    for c in II.SUCCESSOR_FACTORS:
        assert II.variant(f"cosine + successors × {c:g}", half_life) in tried
    best = tried[report["chosen"]][str(weight)]
    assert best >= max(tried[alone].values())
    gain = report["successor_gain"]  # added only when the paired gain is above one standard error
    factor = report["successor_factor"]
    assert factor == float(report["chosen_table"].partition(" + successors × ")[2] or 0.0)
    assert (factor > 0) == (gain["mean"] > gain["se"] and report["chosen"] != alone)
    rebuilt = II.table_named(split, report["chosen_table"])  # what the ablation scripts rebuild from the report
    assert np.array_equal(rebuilt.indptr, table.indptr) and np.array_equal(rebuilt.weights, table.weights)


@pytest.mark.parametrize(("n_items", "dtype", "entry_bytes"), [(300, np.uint16, 4), ((1 << 16) + 1, np.int32, 6)])
def test_the_shipped_table_stores_narrow_indices_where_the_catalogue_allows_and_reads_back_unchanged(
    n_items: int, dtype: type, entry_bytes: int
) -> None:
    """uint16 indices up to 65,536 items (4 bytes an entry with the float16 weights), int32 beyond; lossless."""
    import io

    from ondevice_rec.ranking.cooccurrence import Neighbours

    rng = np.random.default_rng(0)
    counts = rng.integers(0, 4, n_items)
    indptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
    indices = rng.integers(0, n_items, int(indptr[-1])).astype(np.int32)
    indices[-1] = n_items - 1  # the widest index survives
    weights = rng.random(int(indptr[-1])).astype(np.float16).astype(np.float32)
    data = II.table_bytes(Neighbours(indptr, indices, weights))
    stored = np.load(io.BytesIO(data))
    assert stored["indices"].dtype == dtype and stored["weights"].dtype == np.float16
    assert stored["indices"].nbytes + stored["weights"].nbytes == entry_bytes * len(indices)
    back = Neighbours.from_bytes(data)
    assert np.array_equal(back.indices, indices) and np.array_equal(back.weights, weights)
    assert np.array_equal(back.indptr, indptr)
