"""Item-item co-occurrence: the sparse neighbour table a bundle ships equals the dense ItemKNN similarity, and
the runtime blend maps catalogue rows onto it."""

from __future__ import annotations

import numpy as np
import pytest

from ondevice_rec.errors import ArgumentError
from ondevice_rec.ranking.cooccurrence import (
    ItemItem,
    Neighbours,
    cooccurrence_neighbours,
    cooccurrence_scores,
    cooccurrence_similarity,
    recency_weights,
    successor_neighbours,
)


def _sequences(seed: int, users: int = 60, items: int = 40) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.choice(items, int(rng.integers(1, 9))) for _ in range(users)]  # repeats inside a user too


@pytest.mark.parametrize("neighbours", [100, 5])
def test_sparse_neighbours_score_as_the_dense_similarity(neighbours: int) -> None:
    seqs = _sequences(0)
    dense = cooccurrence_similarity(seqs, 40, neighbours)
    nb = cooccurrence_neighbours(seqs, 40, neighbours, block_entries=80)  # blocks of 2 rows: every join runs
    hists = _sequences(1, users=10)
    want = cooccurrence_scores(dense, hists)
    got = np.stack([nb.scores(h) for h in hists])
    assert np.allclose(got, want, atol=1e-5)
    if neighbours == 5:
        assert int(np.diff(nb.indptr).max()) >= 5 and nb.indptr[-1] < 40 * 39


def test_neighbour_table_round_trip_and_refusal() -> None:
    nb = cooccurrence_neighbours(_sequences(2), 40, 10)
    back = Neighbours.from_bytes(nb.to_bytes())
    assert np.array_equal(back.indptr, nb.indptr) and np.array_equal(back.indices, nb.indices)
    assert np.allclose(back.weights, nb.weights)
    bad = Neighbours(nb.indptr, nb.indices.copy(), nb.weights)
    bad.indices[0] = 99  # points outside the table
    with pytest.raises(ValueError):
        Neighbours.from_bytes(bad.to_bytes())
    assert np.all(nb.scores([]) == 0) and np.all(nb.scores([-1, 40]) == 0)


def test_item_item_maps_catalogue_rows_onto_the_table() -> None:
    seqs = [np.array([0, 1]), np.array([0, 1]), np.array([1, 2])]
    nb = cooccurrence_neighbours(seqs, 3, 10)
    ii = ItemItem(nb, 2.0, {"a": 0, "b": 1, "c": 2})
    # the app's catalogue: another order, and an item the bundle never saw
    table = ii.rows_for(["c", "new", "a", "b"])
    assert table.tolist() == [2, -1, 0, 1]
    s = ii.catalogue_scores(np.array([2]), table)  # history: item "a" (catalogue row 2)
    assert s[1] == 0.0 and s[2] == 0.0  # unknown item; the history item itself (no self-similarity)
    assert s[3] == pytest.approx(2.0 * 2 / np.sqrt(2 * 3)) and s[0] == 0.0  # a-b co-occur twice; a-c never


def test_recency_weights_halve_every_half_life_and_skip_the_negligible() -> None:
    from ondevice_rec.ranking.cooccurrence import RECENCY_FLOOR, recency_weights

    assert recency_weights(4, None) is None
    w = recency_weights(40, 2.0)
    assert w is not None and w[:5].tolist() == pytest.approx([1.0, 2**-0.5, 0.5, 2**-1.5, 0.25])
    assert np.all(np.diff(w) <= 0) and np.all((w == 0) | (w >= RECENCY_FLOOR)) and w[-1] == 0.0  # 2^-19.5
    with pytest.raises(ArgumentError, match="half-life"):
        recency_weights(3, 0.0)
    numpy_count = recency_weights(np.int64(3), 1.0)  # a length from numpy counts as one
    assert numpy_count is not None and numpy_count.tolist() == [1.0, 0.5, 0.25]


def test_entry_weights_scale_each_history_rows_neighbours() -> None:
    rng = np.random.default_rng(0)
    seqs = [rng.choice(12, 5, replace=False) for _ in range(40)]
    nb = cooccurrence_neighbours(seqs, 12, 4)
    dense = cooccurrence_similarity(seqs, 12, 4)
    hist = np.array([3, 7, 1, -1, 5])  # -1: an item outside the table
    ew = np.array([1.0, 0.5, 0.0, 2.0, 0.25], np.float32)
    want = sum(ew[j] * dense[h] for j, h in enumerate(hist) if h >= 0)
    assert np.allclose(nb.scores(hist, entry_weights=ew), want, atol=1e-6)
    links = nb.links(hist, ew)
    for target in range(12):  # what each entry adds sums to the target's score; a zero-weight entry adds nothing
        assert links(target).sum() == pytest.approx(want[target], abs=1e-6) and links(target)[2] == 0.0


def test_item_item_with_a_half_life_weights_the_newest_history_item_most() -> None:
    seqs = [np.array([0, 1]), np.array([0, 1]), np.array([2, 3]), np.array([2, 3])]
    nb = cooccurrence_neighbours(seqs, 4, 10)
    table = np.arange(4)
    flat = ItemItem(nb, 1.0, {str(i): i for i in range(4)})
    recent = ItemItem(nb, 1.0, {str(i): i for i in range(4)}, half_life=1.0)
    newest_first = np.array([2, 0])  # 2 just now, 0 before it
    assert flat.catalogue_scores(newest_first, table)[[1, 3]].tolist() == [1.0, 1.0]
    assert recent.catalogue_scores(newest_first, table)[[1, 3]].tolist() == [0.5, 1.0]
    links = recent.catalogue_links(newest_first, table)
    assert links(3).tolist() == [1.0, 0.0] and links(1).tolist() == [0.0, 0.5]


def test_newest_first_keeps_each_item_once_at_its_newest_place() -> None:
    from ondevice_rec.ranking.cooccurrence import newest_first

    assert newest_first([3, 0, 2, 0, 5]).tolist() == [5, 0, 2, 3]
    assert newest_first(np.zeros(0, np.int64)).tolist() == []


def test_entries_recorded_at_the_same_moment_share_one_age() -> None:
    from ondevice_rec.ranking.cooccurrence import recency_weights, tied_ages

    assert tied_ages(np.array([9.0, 8.0, 8.0, 5.0, -1.0, -1.0, -1.0])).tolist() == [0, 1, 1, 3, 4, 4, 4]
    assert tied_ages(np.zeros(0)).tolist() == []
    w = recency_weights(np.array([0, 1, 1]), 1.0)
    assert w is not None and w.tolist() == [1.0, 0.5, 0.5]
    seqs = [np.array([0, 1]), np.array([0, 1]), np.array([2, 3]), np.array([2, 3])]
    ii = ItemItem(cooccurrence_neighbours(seqs, 4, 10), 1.0, {str(i): i for i in range(4)}, half_life=1.0)
    # three titles a profile named (one moment): each counts fully, whatever the order they were named in
    named = ii.catalogue_scores(np.array([2, 0]), np.arange(4), history_at=np.array([-1.0, -1.0]))
    assert named[[1, 3]].tolist() == [1.0, 1.0]


def test_the_successor_table_is_directed_decays_with_distance_and_skips_repeats() -> None:
    pytest.importorskip("scipy")
    nb = successor_neighbours([np.array([0, 1, 2]), np.array([0, 1, 2]), np.array([3, 3, 4])], 5, window=2, decay=0.5)

    def row(i: int) -> dict[int, float]:
        a, b = nb.indptr[i], nb.indptr[i + 1]
        return dict(zip(nb.indices[a:b].tolist(), nb.weights[a:b].tolist()))

    count = np.array([2, 2, 2, 2, 1]) + 1.0  # each item's training count, + 1
    assert row(0) == pytest.approx(
        {1: 2 / np.sqrt(count[0] * count[1]), 2: 2 * 0.5 / np.sqrt(count[0] * count[2])}, 1e-3
    )
    assert row(1) == pytest.approx({2: 2 / np.sqrt(count[1] * count[2])}, 1e-3)
    assert row(2) == {} and 0 not in row(1)  # what came before is not a successor
    assert row(3) == pytest.approx({4: (1 + 0.5) / np.sqrt(count[3] * count[4])}, 1e-3)  # 3 → 3 is not


@pytest.mark.parametrize("half_life", [None, 1.5])
def test_prefix_scores_are_the_scores_of_every_prefix(half_life: float | None) -> None:
    """``prefix_scores``: at ``[b, p]`` what ``scores`` gives the window's first ``p`` entries, newest first
    (a repeated item at each of its places; for windows without repeats, the runtime's ``newest_first``)."""
    rng = np.random.default_rng(3)
    seqs = [rng.integers(0, 12, size=int(rng.integers(2, 9))) for _ in range(30)]
    nb = cooccurrence_neighbours(seqs, 12, neighbours=4)
    windows = np.array([[-1, -1, 3, 5, 3, 7], [1, 2, 11, 0, 4, 4], [-1, -1, -1, -1, -1, 9]])
    got = nb.prefix_scores(windows, half_life)
    assert got.shape == (3, 7, 12)
    for b, w in enumerate(windows):
        for p in range(7):
            hist = w[:p][w[:p] >= 0][::-1]
            want = nb.scores(hist, entry_weights=recency_weights(len(hist), half_life))
            assert np.allclose(got[b, p], want, atol=1e-6), (b, p)


def test_item_rows_outside_the_table_are_refused() -> None:
    with pytest.raises(ArgumentError, match="item rows must lie in 0 … 4"):
        cooccurrence_neighbours([np.array([0, 5])], 5)
    with pytest.raises(ArgumentError, match="got -1"):
        cooccurrence_neighbours([np.array([-1, 2])], 5)
