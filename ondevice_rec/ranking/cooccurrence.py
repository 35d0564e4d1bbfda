"""Item-item co-occurrence similarity (item-kNN): cosine of the item columns of the user × item matrix,
top ``neighbours`` per item kept. A user's score for item j sums the similarities of j to their history.

One implementation for the evaluation harness's ItemKNN baseline and the export's first-stage retriever.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def cooccurrence_similarity(sequences: Sequence[np.ndarray], n_items: int, neighbours: int = 100) -> np.ndarray:
    """(n_items, n_items) float32 similarity, zero diagonal, each row keeping its ``neighbours`` largest."""
    x = np.zeros((len(sequences), n_items), dtype=np.float32)
    for u, seq in enumerate(sequences):
        x[u, seq] = 1.0
    co = x.T @ x
    norms = np.sqrt(np.diag(co)).clip(min=1e-9)
    sim = co / norms[:, None] / norms[None, :]
    np.fill_diagonal(sim, 0.0)
    if neighbours < n_items:
        cut = np.partition(sim, n_items - neighbours, axis=1)[:, n_items - neighbours][:, None]
        sim = np.where(sim >= cut, sim, 0.0)
    return np.asarray(sim, dtype=np.float32)


def cooccurrence_scores(sim: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
    """(len(histories), n_items) scores: the summed similarity of every item to each history."""
    out = np.zeros((len(histories), sim.shape[0]), dtype=np.float32)
    for r, h in enumerate(histories):
        if len(h):
            out[r] = sim[h].sum(axis=0)
    return out
