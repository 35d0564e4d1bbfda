"""The cold-start stage's grid (export/cold_start.py): the pruned rank of the validation item equals the rank
scored at every grid point."""

from __future__ import annotations

import numpy as np
import pytest

from ondevice_rec.export.cold_start import COLD_ITEM_ITEM_SCALES, COLD_WEIGHTS, PROFILE_MODEL_WEIGHTS, _grid_ranks


def _brute(base: np.ndarray, terms: np.ndarray, coef: np.ndarray, target: int) -> np.ndarray:
    scores = base[None, :].astype(np.float64) + coef.astype(np.float64) @ terms.astype(np.float64)
    t = scores[:, target : target + 1]
    return (scores > t).sum(axis=1) + ((scores == t).sum(axis=1) - 1) / 2.0


GRID = np.asarray(
    [
        (w, s, t, g)
        for w in COLD_WEIGHTS
        for s in COLD_ITEM_ITEM_SCALES
        for t in PROFILE_MODEL_WEIGHTS
        for g in PROFILE_MODEL_WEIGHTS
    ],
    np.float32,
)


@pytest.mark.parametrize("seed", range(6))
def test_the_pruned_grid_ranks_equal_the_ranks_at_every_grid_point(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    base = rng.normal(0, 1, n).astype(np.float32)
    terms = rng.normal(0, 0.3, (4, n)).astype(np.float32) * (rng.random((4, n)) < 0.5)  # sparse, exact zeros
    target = int(rng.integers(n))
    base[target] = np.quantile(base, 0.995 - 0.01 * seed)  # near the top: ranks below 10 happen
    terms[:, rng.integers(n, size=20)] = terms[:, [target]]  # exact ties with the target's terms
    base[rng.integers(n, size=5)] = base[target]
    got = _grid_ranks(base, terms, GRID, target)
    want = _brute(base, terms, GRID, target)
    hit = want < 10
    assert np.array_equal(got[hit], want[hit])  # exact where NDCG@10 is not 0
    assert np.all(got[~hit] >= 10)


def test_a_target_far_down_is_ranked_below_10_without_scoring_the_grid() -> None:
    base = np.arange(100, dtype=np.float32)[::-1].copy()
    terms = np.zeros((4, 100), np.float32)
    assert np.all(_grid_ranks(base, terms, GRID, 50) >= 10)
