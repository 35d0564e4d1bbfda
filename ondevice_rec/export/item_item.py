"""The item-item blend of a student bundle: item-kNN's co-occurrence neighbours shipped beside the towers, added
to the student's score with a weight chosen on validation.

On sparse catalogues (few events per user) the neighbours of what a user just touched carry what a sequence
model learns slowly; the blend keeps both. The weight is chosen as ``odrec eval`` scores a bundle (the runtime's
unit user vector · item vectors, plus its popularity prior from training counts, plus weight × summed
similarity), on the validation users the student was early-stopped on; 0 (no blend, no table shipped) is kept
unless a weight beats it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..datasets import Split
from ..eval.metrics import metrics_from_rank, rank_of_target
from ..eval.protocols import full_mask
from ..live.snapshot import log_scaled
from ..ranking.config import POPULARITY_WEIGHT_BY_KIND
from ..ranking.cooccurrence import Neighbours, cooccurrence_neighbours

WEIGHTS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
NEIGHBOURS = 100  # as the ItemKNN baseline


def build_neighbours(split: Split, neighbours: int = NEIGHBOURS) -> Neighbours:
    """Co-occurrence neighbours of the training sequences, weights stored as float16 (half the bytes; the
    blend's ranking does not move at that precision)."""
    nb = cooccurrence_neighbours(split.train, split.n_items, neighbours)
    return Neighbours(nb.indptr, nb.indices, nb.weights.astype(np.float16).astype(np.float32))


def table_bytes(nb: Neighbours) -> bytes:
    """The ``item_item.npz`` file: int32 indices, float16 weights."""
    return Neighbours(nb.indptr, nb.indices, nb.weights.astype(np.float16)).to_bytes()


def choose_weight(
    user_vectors: Callable[[list[np.ndarray]], np.ndarray],
    item_vecs: np.ndarray,
    split: Split,
    nb: Neighbours,
    users: np.ndarray | None,
    log: Callable[[str, float], None] = lambda m, f: None,
    batch: int = 256,
) -> tuple[float, dict[str, Any]]:
    """Mean validation NDCG@10 (full protocol) for every weight of :data:`WEIGHTS`; the best (ties: the
    smaller) and the report ``{"valid_ndcg10": {weight: figure}, "users": n, "neighbours": k}``."""
    us = np.arange(split.n_users) if users is None else np.asarray(users)
    counts = np.zeros(split.n_items)
    for seq in split.train:
        np.add.at(counts, seq, 1.0)
    scaled = log_scaled(counts)  # the runtime's catalogue prior, from training counts as `odrec eval` ships it
    assert scaled is not None
    prior = scaled * np.float32(POPULARITY_WEIGHT_BY_KIND["two-tower"])
    sums = {w: 0.0 for w in WEIGHTS}
    for s in range(0, len(us), batch):
        part = us[s : s + batch]
        hists = [split.history(int(u), "valid") for u in part]
        uv = user_vectors(hists)
        uv = uv / np.linalg.norm(uv, axis=1, keepdims=True).clip(min=1e-12)  # the runtime's unit user vector
        base = uv @ item_vecs.T + prior
        for r, uid in enumerate(part.tolist()):
            cand = np.flatnonzero(full_mask(split, uid, "valid"))
            co = nb.scores(hists[r])
            target = split.target(uid, "valid")
            for w in WEIGHTS:
                rank = rank_of_target(base[r] + np.float32(w) * co, target, cand)
                sums[w] += metrics_from_rank(rank)["NDCG@10"]
        log("choosing the item-item blend weight on validation", min(1.0, (s + batch) / len(us)))
    means: dict[float, float] = {w: sums[w] / len(us) for w in WEIGHTS}
    best = max(WEIGHTS, key=lambda w: (round(means[w], 6), -float(w)))
    report = {
        "valid_ndcg10": {str(w): round(v, 5) for w, v in means.items()},
        "chosen_weight": best,
        "users": len(us),
        "neighbours": NEIGHBOURS,
    }
    return best, report
