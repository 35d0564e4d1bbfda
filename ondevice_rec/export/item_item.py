"""The item-item blend of a student bundle: an item's neighbours shipped beside the towers, added to the
student's score with a weight chosen on validation.

On sparse catalogues (few events per user) the neighbours of what a user just touched carry what a sequence
model learns slowly; the blend keeps both. Two kinds of neighbours are tried: item-kNN's co-occurrence cosine,
and EASE's (Steck, WWW 2019: the closed-form item-item regression B = I − P·diag(1/diag P), P = (XᵀX + λI)⁻¹,
each item's largest positive weights kept) at a few λ on catalogues small enough for its dense inverse. Each
history item's row can be scaled by its recency (1 for the newest, halving every ``half_life`` items back): what
comes next follows what was just watched more than what was watched a year ago. The table, half-life and weight
are chosen as ``odrec eval`` scores a bundle (the runtime's unit user vector · item vectors, plus its popularity
prior from training counts, plus weight × the history's recency-weighted summed neighbour weights), on the
validation users the student was early-stopped on; 0 (no blend, no table shipped) is kept unless a weight beats
it. The runtime reads either table the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..datasets import Split
from ..eval.metrics import metrics_from_rank
from ..eval.protocols import full_mask
from ..live.snapshot import log_scaled
from ..ranking.config import POPULARITY_WEIGHT_BY_KIND, RankingConfig
from ..ranking.cooccurrence import (
    HALF_LIVES,
    Neighbours,
    cooccurrence_neighbours,
    newest_first,
    recency_weights,
    successor_neighbours,
    top_per_row,
)
from ..ranking.ease import ease_weights

# EASE weights are smaller than cosine similarities: its best weight can sit above cosine's (Amazon Sports: 5, the top
# of an earlier grid)
WEIGHTS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
NEIGHBOURS = 100  # as the ItemKNN baseline
# EASE's inverse is dense: n² float32 in place (1.6 GB at 20,000 items) and ~n³ flops per λ (Amazon Sports,
# 18,227 items: 118.8 s for the whole stage on 2 cores); above this many items only the co-occurrence table is tried
EASE_MAX_ITEMS = 20_000
EASE_LAMBDAS = (20.0, 100.0, 500.0)
# the successor table added to the chosen one: each item's successors up to SUCCESSOR_WINDOW places on, each place
# counting SUCCESSOR_DECAY of the one before, at one of SUCCESSOR_FACTORS of the chosen table's scale (ml-latest-small,
# LlamaRec's split, validation: EASE-500 at half-life 2 0.1040, with successors × 0.3 0.1180; windows 3 to 10 and
# factors 0.2 to 0.3 within 0.004 of it)
SUCCESSOR_WINDOW = 5
SUCCESSOR_DECAY = 0.7
SUCCESSOR_FACTORS = (0.1, 0.2, 0.3, 0.5)


def build_neighbours(split: Split, neighbours: int = NEIGHBOURS) -> Neighbours:
    """Co-occurrence neighbours of the training sequences, weights stored as float16 (half the bytes; the
    blend's ranking does not move at that precision)."""
    nb = cooccurrence_neighbours(split.train, split.n_items, neighbours)
    return Neighbours(nb.indptr, nb.indices, nb.weights.astype(np.float16).astype(np.float32))


def ease_neighbours(split: Split, lam: float, neighbours: int = NEIGHBOURS, block: int = 512) -> Neighbours:
    """EASE's item-item weights from the training sequences (binary user × item matrix), each row keeping its
    ``neighbours`` largest positive weights (float16-rounded, as :func:`build_neighbours`)."""
    n = split.n_items
    g = ease_weights(split.train, n, lam, block)
    indptr, indices, weights = [0], [], []
    k = min(neighbours, n - 1)
    for a in range(0, n, block):
        b = min(n, a + block)
        w = g[a:b]
        top = np.argpartition(-w, k - 1, axis=1)[:, :k] if k > 0 else np.zeros((b - a, 0), int)
        for r in range(b - a):
            keep = top[r][w[r, top[r]] > 0]
            keep = keep[np.argsort(-w[r, keep], kind="stable")]
            indices.append(keep.astype(np.int32))
            weights.append(w[r, keep])
            indptr.append(indptr[-1] + len(keep))
    del g
    return Neighbours(
        np.asarray(indptr, dtype=np.int64),
        np.concatenate(indices) if indices else np.zeros(0, np.int32),
        np.concatenate(weights).astype(np.float16).astype(np.float32) if weights else np.zeros(0, np.float32),
    )


def candidate_tables(split: Split, log: Callable[[str, float], None] = lambda m, f: None) -> dict[str, Neighbours]:
    """The neighbour tables the blend chooses from: co-occurrence cosine, and EASE at :data:`EASE_LAMBDAS` when
    the catalogue has at most :data:`EASE_MAX_ITEMS` items."""
    tables = {"cosine": build_neighbours(split)}
    if split.n_items <= EASE_MAX_ITEMS:
        for i, lam in enumerate(EASE_LAMBDAS):
            log(f"EASE neighbours, lambda {lam:g}", i / len(EASE_LAMBDAS))
            tables[f"ease-{lam:g}"] = ease_neighbours(split, lam)
    return tables


def successors_of(split: Split) -> Neighbours:
    """The successor table the blend adds (:func:`~ondevice_rec.ranking.cooccurrence.successor_neighbours` of the
    training sequences at :data:`SUCCESSOR_WINDOW` and :data:`SUCCESSOR_DECAY`, float16-rounded)."""
    nb = successor_neighbours(split.train, split.n_items, SUCCESSOR_WINDOW, SUCCESSOR_DECAY, NEIGHBOURS)
    return Neighbours(nb.indptr, nb.indices, nb.weights.astype(np.float16).astype(np.float32))


def merged(a: Neighbours, b: Neighbours, factor: float) -> Neighbours:
    """``a`` + ``factor`` × ``b``, row by row (every neighbour of both rows; float16-rounded, as shipped): one
    table the runtime reads as any other, its score the two tables' weighted sum."""
    from scipy import sparse

    n = a.n_items
    ma = sparse.csr_matrix((a.weights, a.indices, a.indptr), shape=(n, n))
    mb = sparse.csr_matrix((b.weights, b.indices, b.indptr), shape=(n, n))
    m = (ma + mb * np.float32(factor)).tocsr()
    m.sum_duplicates()
    nb = top_per_row(m, n)
    return Neighbours(nb.indptr, nb.indices, nb.weights.astype(np.float16).astype(np.float32))


def table_bytes(nb: Neighbours) -> bytes:
    """The ``item_item.npz`` file: float16 weights, and uint16 indices where the catalogue allows it (up to
    65,536 items; int32 beyond): 4 bytes an entry instead of 6, lossless; the runtime reads both."""
    wide = nb.n_items > 1 << 16
    return Neighbours(
        nb.indptr, nb.indices.astype(np.int32 if wide else np.uint16), nb.weights.astype(np.float16)
    ).to_bytes()


def variant(table: str, half_life: float | None) -> str:
    """A candidate's name in the report: the table, and its recency half-life when it has one."""
    return table if half_life is None else f"{table}, half-life {half_life:g}"


def catalogue_prior(split: Split) -> np.ndarray:
    """The runtime's catalogue prior of a two-tower bundle, from training counts as `odrec eval` ships it."""
    counts = np.zeros(split.n_items)
    for seq in split.train:
        np.add.at(counts, seq, 1.0)
    scaled = log_scaled(counts)
    assert scaled is not None
    return scaled * np.float32(POPULARITY_WEIGHT_BY_KIND["two-tower"])


def choose_weight(
    user_vectors: Callable[[list[np.ndarray]], np.ndarray],
    item_vecs: np.ndarray,
    split: Split,
    tables: dict[str, Neighbours],
    users: np.ndarray | None,
    log: Callable[[str, float], None] = lambda m, f: None,
    batch: int = 256,
    half_lives: tuple[float | None, ...] = HALF_LIVES,
    per_user: dict[tuple[str, float | None, float], list[float]] | None = None,
) -> tuple[str, float | None, float, dict[str, Any]]:
    """Mean validation NDCG@10 (full protocol) for every table, recency half-life (``half_lives``) and
    weight (:data:`WEIGHTS`), the user vectors computed once; the best (ties: the smaller weight, then the
    earlier table and half-life) as (table, half_life, weight, report), the report ``{"valid_ndcg10": {variant:
    {weight: figure}}, "chosen", "chosen_table", "chosen_half_life", "chosen_weight", "users", "neighbours"}``
    (a variant is :func:`variant`'s name). ``per_user``, when given, gets every (table, half-life, weight)'s
    per-user figures, in the order of ``users``."""
    us = np.arange(split.n_users) if users is None else np.asarray(users)
    prior = catalogue_prior(split)
    grid = [(t, h) for t in tables for h in half_lives]
    history_limit = RankingConfig().history_limit  # the newest events the runtime reads
    ws = np.asarray(WEIGHTS, np.float32)[:, None]
    sums = {(t, h, w): 0.0 for t, h in grid for w in WEIGHTS}
    for s in range(0, len(us), batch):
        part = us[s : s + batch]
        hists = [split.history(int(u), "valid") for u in part]
        uv = user_vectors(hists)
        uv = uv / np.linalg.norm(uv, axis=1, keepdims=True).clip(min=1e-12)  # the runtime's unit user vector
        base = uv @ item_vecs.T + prior
        for r, uid in enumerate(part.tolist()):
            cand = np.flatnonzero(full_mask(split, uid, "valid"))
            target = split.target(uid, "valid")
            hist = newest_first(hists[r][-history_limit:])  # as the runtime holds a history
            for t, h in grid:
                co = tables[t].scores(hist, entry_weights=recency_weights(len(hist), h))
                for w, rank in zip(WEIGHTS, _ranks(base[r], co, ws, target, cand)):
                    v = metrics_from_rank(rank)["NDCG@10"]
                    sums[t, h, w] += v
                    if per_user is not None:
                        per_user.setdefault((t, h, w), []).append(v)
        log("choosing the item-item table and weight on validation", min(1.0, (s + batch) / len(us)))
    means = {k: v / len(us) for k, v in sums.items()}
    best_t, best_h, best_w = max(sums, key=lambda k: (round(means[k], 6), -float(k[2]), -grid.index(k[:2])))
    if best_w == 0.0:
        best_t, best_h = grid[0]
    report = {
        "valid_ndcg10": {variant(t, h): {str(w): round(means[t, h, w], 5) for w in WEIGHTS} for t, h in grid},
        "chosen": variant(best_t, best_h),
        "chosen_table": best_t,
        "chosen_half_life": best_h,
        "chosen_weight": best_w,
        "users": len(us),
        "neighbours": NEIGHBOURS,
    }
    return best_t, best_h, best_w, report


SUCCESSORS = " + successors × "  # a merged table's name: "<table> + successors × <factor>"


def choose_blend(
    user_vectors: Callable[[list[np.ndarray]], np.ndarray],
    item_vecs: np.ndarray,
    split: Split,
    tables: dict[str, Neighbours],
    users: np.ndarray | None,
    log: Callable[[str, float], None] = lambda m, f: None,
) -> tuple[Neighbours | None, float | None, float, dict[str, Any]]:
    """The blend an export ships: :func:`choose_weight` over ``tables``; then, with a weight above 0, the chosen
    table alone against it plus the successor table at each of :data:`SUCCESSOR_FACTORS` (:func:`merged`), at
    the chosen half-life, the weight chosen again — the best of these kept only when its paired per-user gain
    over the table alone is above one standard error (``successor_gain`` in the report). Returns (the table to
    ship, None without one; half-life; weight; :func:`choose_weight`'s report with the second choice's
    candidates in ``valid_ndcg10``, ``chosen*`` naming the shipped table, ``successor_factor`` (0: none) and
    ``table_alone``: the first choice)."""
    t, h, w, report = choose_weight(user_vectors, item_vecs, split, tables, users, log)
    report.update(successor_factor=0.0, table_alone={"chosen": report["chosen"], "weight": w})
    if w == 0:
        return None, h, w, report
    log("successor table", 0.0)
    succ = successors_of(split)
    second = {t: tables[t], **{f"{t}{SUCCESSORS}{c:g}": merged(tables[t], succ, c) for c in SUCCESSOR_FACTORS}}
    figures: dict[tuple[str, float | None, float], list[float]] = {}
    t2, _, w2, rep2 = choose_weight(
        user_vectors, item_vecs, split, second, users, log, half_lives=(h,), per_user=figures
    )
    report["valid_ndcg10"].update(rep2["valid_ndcg10"])
    # the successor table is added only when the best of its 4 factors × 13 weights beats the table alone by more
    # than one standard error of the paired per-user difference: a gain within it is a pick of noise among 52
    # (ML-100K: +0.0006 on validation)
    diff = np.subtract(figures[t2, h, w2], figures[t, h, w])
    se = float(np.std(diff, ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
    gain = float(np.mean(diff))
    report["successor_gain"] = {"mean": round(gain, 5), "se": round(se, 5), "rule": "mean > se"}
    if t2 == t or not gain > se:
        return tables[t], h, w, report
    factor = float(t2.partition(SUCCESSORS)[2])
    report.update(chosen=rep2["chosen"], chosen_table=t2, chosen_weight=w2, successor_factor=factor)
    return second[t2], h, w2, report


def table_named(split: Split, name: str) -> Neighbours:
    """A candidate table rebuilt from its name in a report: ``cosine``, ``ease-<λ>``, either with
    ``" + successors × <factor>"``."""
    base, _, factor = name.partition(SUCCESSORS)
    nb = build_neighbours(split) if base == "cosine" else ease_neighbours(split, float(base.removeprefix("ease-")))
    return merged(nb, successors_of(split), float(factor)) if factor else nb


def _ranks(base: np.ndarray, co: np.ndarray, ws: np.ndarray, target: int, cand: np.ndarray) -> list[float]:
    """:func:`rank_of_target` of ``base + w · co`` for every weight in the column ``ws`` at once (the same
    float32 sums, so the same ties)."""
    m = base[cand][None, :] + ws * co[cand][None, :]
    t = base[target] + ws[:, 0] * co[target]
    greater = (m > t[:, None]).sum(axis=1)
    ties = (m == t[:, None]).sum(axis=1) - 1
    return (greater + ties / 2.0).tolist()
