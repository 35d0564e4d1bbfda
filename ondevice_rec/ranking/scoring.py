"""Pure scoring functions: user state from events and profile, catalogue scores with priors, coarse-to-fine
search for large catalogues, and diversity (MMR). Functions of typed config + arrays only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .config import RankingConfig
from .signals import event_weight


# --- user state -------------------------------------------------------------------------------
@dataclass
class UserState:
    """What the ranker knows about a user for one request."""

    pos: np.ndarray | None  # unit vector of what they like (events + profile), or None
    neg: np.ndarray | None  # unit vector of what they avoid, or None
    history_rows: np.ndarray  # catalogue rows of positive events (for reasons)
    history_weights: np.ndarray
    history_kinds: list[str]
    clauses: list[str]  # positive profile clauses (for reasons)
    clause_vecs: np.ndarray | None

    @property
    def personalised(self) -> bool:
        return self.pos is not None or self.neg is not None


def unit(v: np.ndarray) -> np.ndarray | None:
    """``v`` scaled to unit norm, or None for a (near-)zero vector."""
    n = float(np.linalg.norm(v))
    return (v / n).astype(np.float32) if n > 1e-9 else None


def build_user_state(
    events: Sequence[tuple[int, str, float | None, float, str]],
    matrix: np.ndarray,
    *,
    profile_pos: np.ndarray | None,
    profile_neg: np.ndarray | None,
    clauses: Sequence[str] = (),
    clause_vecs: np.ndarray | None = None,
    now: float,
    request_ctx: Sequence[str] = (),
    cfg: RankingConfig,
) -> UserState:
    """``events``: (row, kind, value, at, ctx) newest first, where row indexes ``matrix``."""
    dim = matrix.shape[1]
    pos_acc = np.zeros(dim, dtype=np.float32)
    neg_acc = np.zeros(dim, dtype=np.float32)
    rows, weights, kinds = [], [], []
    ctx_set = set(request_ctx)
    for rank, (row, kind, value, at, ctx) in enumerate(events[: cfg.history_limit]):
        w = event_weight(kind, value, cfg)
        if w == 0.0:
            continue
        age_days = max(0.0, now - at) / 86400.0
        decay = 0.5 ** (rank / cfg.half_life_events) * 0.5 ** (age_days / cfg.half_life_days)
        if ctx_set and ctx and ctx_set.intersection(ctx.split("|")):
            decay *= 1.0 + cfg.context_event_boost
        if w > 0:
            pos_acc += (w * decay) * matrix[row]
            rows.append(row)
            weights.append(w * decay)
            kinds.append(kind)
        else:
            neg_acc += (-w * decay) * matrix[row]
    ev_pos = unit(pos_acc)
    if ev_pos is not None and profile_pos is not None:
        # one or two events should not drown a stated profile: scale by how much evidence there is
        ev_pos = ev_pos * min(1.0, float(np.sum(weights)) / cfg.event_saturation)
    pos = ev_pos
    if profile_pos is not None:
        pos = unit(profile_pos * cfg.profile_weight + (ev_pos if ev_pos is not None else 0.0))
    neg = unit(neg_acc)
    if profile_neg is not None:
        neg = unit(profile_neg + (neg if neg is not None else 0.0))
    return UserState(
        pos,
        neg,
        np.asarray(rows, dtype=np.int64),
        np.asarray(weights, dtype=np.float32),
        kinds,
        list(clauses),
        clause_vecs,
    )


def score_items(
    state: UserState, matrix: np.ndarray, pop: np.ndarray, ctx_pop: np.ndarray | None, cfg: RankingConfig
) -> np.ndarray:
    """One matrix-vector product for the whole catalogue, plus popularity and context priors."""
    return _combine(state, lambda v: matrix @ v, matrix.shape[0], pop, ctx_pop, cfg)


def _combine(
    state: UserState,
    dot: Callable[[np.ndarray], np.ndarray],
    n: int,
    pop: np.ndarray,
    ctx_pop: np.ndarray | None,
    cfg: RankingConfig,
) -> np.ndarray:
    scores = np.zeros(n, dtype=np.float32)
    if state.pos is not None:
        scores += dot(state.pos)
    if state.neg is not None:
        scores -= cfg.negative_weight * np.clip(dot(state.neg), 0.0, None)
    prior_w = cfg.popularity_weight if state.personalised else 1.0
    scores += prior_w * pop
    if ctx_pop is not None:
        scores += (cfg.context_weight if state.personalised else 0.5) * ctx_pop
    return scores


@dataclass(frozen=True)
class Prefilter:
    """A rank-``r`` view of the catalogue: ``low = matrix @ basis`` with ``basis`` the top right singular
    vectors of (a sample of) the matrix, so ``low @ (basis.T @ q)`` approximates ``matrix @ q`` at r/d cost."""

    basis: np.ndarray  # (dim, r)
    low: np.ndarray  # (n, r)


def build_prefilter(matrix: np.ndarray, rank: int, *, sample: int = 20_000, seed: int = 0) -> Prefilter:
    n, d = matrix.shape
    rows = matrix if n <= sample else matrix[np.random.default_rng(seed).choice(n, sample, replace=False)]
    _, _, vt = np.linalg.svd(rows.astype(np.float32), full_matrices=False)  # uncentred: dot products survive
    basis = np.ascontiguousarray(vt[: min(rank, d)].T, dtype=np.float32)
    return Prefilter(basis, np.ascontiguousarray(matrix @ basis, dtype=np.float32))


def score_items_prefiltered(
    state: UserState,
    matrix: np.ndarray,
    pf: Prefilter,
    pop: np.ndarray,
    ctx_pop: np.ndarray | None,
    allowed: np.ndarray,
    cfg: RankingConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Coarse-to-fine scoring: low-rank scores for every item choose ``cfg.prefilter_candidates`` allowed
    rows, which get exact scores. Returns (scores, candidate mask): other rows score −inf and are not allowed."""
    n = matrix.shape[0]
    approx = _combine(state, lambda v: pf.low @ (v @ pf.basis), n, pop, ctx_pop, cfg)
    approx[~allowed] = -np.inf
    m = min(cfg.prefilter_candidates, int(allowed.sum()))
    cand = np.argpartition(-approx, m - 1)[:m] if 0 < m < n else np.flatnonzero(allowed)
    sub = matrix[cand]
    exact = _combine(state, lambda v: sub @ v, len(cand), pop[cand], None if ctx_pop is None else ctx_pop[cand], cfg)
    scores = np.full(n, -np.inf, dtype=np.float32)
    scores[cand] = exact
    mask = np.zeros(n, dtype=bool)
    mask[cand] = True
    return scores, mask & allowed


def select_mmr(
    scores: np.ndarray, matrix: np.ndarray, allowed: np.ndarray, k: int, diversity: float, pool: int
) -> list[int]:
    """Top-``k`` rows by maximal marginal relevance among ``allowed`` rows (``diversity`` = 1 − λ)."""
    cand = np.flatnonzero(allowed)
    if cand.size == 0:
        return []
    n_pool = min(cand.size, max(pool, k))
    if n_pool < cand.size:
        part = np.argpartition(-scores[cand], n_pool - 1)[:n_pool]
        cand = cand[part]
    cand = cand[np.lexsort((cand, -scores[cand]))]  # by score, ties by row (stable, deterministic)
    if diversity <= 0.0 or k == 1:
        return cand[:k].tolist()
    rel = scores[cand]
    span = float(rel.max() - rel.min())
    rel = (rel - rel.min()) / span if span > 1e-9 else np.ones_like(rel)
    vecs = matrix[cand]
    vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)  # cosine, whatever the scale
    lam = 1.0 - diversity
    max_sim = np.full(cand.size, -1.0, dtype=np.float32)
    chosen: list[int] = []
    taken = np.zeros(cand.size, dtype=bool)
    for _ in range(min(k, cand.size)):
        mmr = lam * rel - (1.0 - lam) * np.where(max_sim < 0, 0.0, max_sim)
        mmr[taken] = -np.inf
        j = int(np.argmax(mmr))
        taken[j] = True
        chosen.append(int(cand[j]))
        max_sim = np.maximum(max_sim, vecs @ vecs[j])
    return chosen
