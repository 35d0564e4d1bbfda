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
    """``events``: (row, kind, value, at, ctx) newest first, where row indexes ``matrix``.

    Two interests, blended: *long-term* — every event (up to ``history_limit``) weighted by its strength and
    a slow decay of its age, measured on the user's own timeline (from their latest event, so a history
    imported from 1998 counts as fully as last week's); *short-term* — the latest session (events with no
    pause over ``session_gap_hours``, at most ``short_term_events``), decayed by position and boosted when
    recorded in the request's context. The short-term share grows to ``short_term_weight`` once the session
    holds ``short_term_full_after`` events: a shift of taste shows within a few events, one stray click
    does not take over, and older taste is kept. ``now`` is kept for callers; ages never depend on it."""
    del now  # ages are relative to the user's latest event, not to the clock
    dim = matrix.shape[1]
    evs = events[: cfg.history_limit]
    latest = max((e[3] for e in evs), default=0.0)
    long_pos = np.zeros(dim, dtype=np.float32)
    long_neg = np.zeros(dim, dtype=np.float32)
    short_pos = np.zeros(dim, dtype=np.float32)
    short_neg = np.zeros(dim, dtype=np.float32)
    contrib: dict[int, float] = {}
    kind_of: dict[int, str] = {}
    ctx_set = set(request_ctx)
    n_short = 0
    gap = cfg.session_gap_hours * 3600.0
    prev_at, in_session = latest, True
    for row, kind, value, at, ctx in evs:
        w = event_weight(kind, value, cfg)
        if w == 0.0:
            continue
        age_days = max(0.0, latest - at) / 86400.0
        lw = abs(w) * 0.5 ** (age_days / cfg.long_half_life_days)
        sw = 0.0
        if in_session and n_short < cfg.short_term_events and prev_at - at <= gap:
            sw = abs(w) * 0.5 ** (n_short / cfg.half_life_events)
            if ctx_set and ctx and ctx_set.intersection(ctx.split("|")):
                sw *= 1.0 + cfg.context_event_boost
            n_short += 1
            prev_at = at
        else:
            in_session = False
        if w > 0:
            vec = np.asarray(matrix[row], dtype=np.float32)
            long_pos += lw * vec
            short_pos += sw * vec
            if row not in kind_of:
                kind_of[row] = kind
            contrib[row] = contrib.get(row, 0.0) + lw + sw
        else:
            vec = np.asarray(matrix[row], dtype=np.float32)
            long_neg += lw * vec
            short_neg += sw * vec
    short_weight = cfg.short_term_weight * min(1.0, n_short / max(1, cfg.short_term_full_after))
    ev_pos = _blend(unit(short_pos), unit(long_pos), short_weight)
    total = float(sum(contrib.values()))
    if ev_pos is not None and profile_pos is not None:
        # one or two events should not drown a stated profile: scale by how much evidence there is
        ev_pos = ev_pos * min(1.0, total / cfg.event_saturation)
    pos = ev_pos
    if profile_pos is not None:
        pos = unit(profile_pos * cfg.profile_weight + (ev_pos if ev_pos is not None else 0.0))
    neg = _blend(unit(short_neg), unit(long_neg), short_weight)
    if profile_neg is not None:
        neg = unit(profile_neg + (neg if neg is not None else 0.0))
    rows = list(contrib)  # newest first (dicts keep insertion order)
    return UserState(
        pos,
        neg,
        np.asarray(rows, dtype=np.int64),
        np.asarray([contrib[r] for r in rows], dtype=np.float32),
        [kind_of[r] for r in rows],
        list(clauses),
        clause_vecs,
    )


def _blend(short: np.ndarray | None, long: np.ndarray | None, short_weight: float) -> np.ndarray | None:
    if short is None or long is None:
        return short if long is None else long
    return unit(short_weight * short + (1.0 - short_weight) * long)


def matvec(matrix: np.ndarray, v: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """``matrix @ v`` in float32 (a float16 matrix is converted chunk by chunk, never as a whole copy)."""
    if matrix.dtype == np.float32:
        return np.asarray(matrix @ v, dtype=np.float32)
    out = np.empty(matrix.shape[0], dtype=np.float32)
    for s in range(0, matrix.shape[0], chunk):
        out[s : s + chunk] = matrix[s : s + chunk].astype(np.float32) @ v
    return out


def score_items(
    state: UserState, matrix: np.ndarray, pop: np.ndarray, ctx_pop: np.ndarray | None, cfg: RankingConfig
) -> np.ndarray:
    """One matrix-vector product for the whole catalogue, plus popularity and context priors."""
    return _combine(state, lambda v: matvec(matrix, v), matrix.shape[0], pop, ctx_pop, cfg)


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
    prior_w = cfg.prior_weight if state.personalised else 1.0
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


def build_prefilter(
    matrix: np.ndarray, rank: int, *, sample: int = 20_000, seed: int = 0, chunk: int = 8192
) -> Prefilter:
    """The basis is the top eigenvectors of the (uncentred, so dot products survive) Gram matrix of a sample
    of rows — the same subspace as the sample's top right singular vectors, without an SVD's n × d factor and
    workspace (at 100k items: +280 MB and 8 s for the SVD, a few MB and a fraction of a second this way)."""
    n, d = matrix.shape
    pick = np.arange(n) if n <= sample else np.sort(np.random.default_rng(seed).choice(n, sample, replace=False))
    gram = np.zeros((d, d), dtype=np.float64)
    for s in range(0, len(pick), chunk):
        part = matrix[pick[s : s + chunk]].astype(np.float32)
        gram += part.T @ part
    _, vecs = np.linalg.eigh(gram)  # ascending eigenvalues
    basis = np.ascontiguousarray(vecs[:, ::-1][:, : min(rank, d)], dtype=np.float32)
    low = np.empty((n, basis.shape[1]), dtype=np.float32)
    for s in range(0, n, 8192):
        low[s : s + 8192] = matrix[s : s + 8192].astype(np.float32) @ basis
    return Prefilter(basis, low)


def score_items_prefiltered(
    state: UserState,
    matrix: np.ndarray,
    pf: Prefilter,
    pop: np.ndarray,
    ctx_pop: np.ndarray | None,
    allowed: np.ndarray,
    cfg: RankingConfig,
    extra: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Coarse-to-fine scoring: low-rank scores for every item choose ``cfg.prefilter_candidates`` allowed
    rows, which get exact scores. ``extra`` (the item-item blend) is added to both, so that an item the
    history's neighbours favour can enter the candidates. Returns (scores, candidate mask): other rows score
    −inf and are not allowed."""
    n = matrix.shape[0]
    approx = _combine(state, lambda v: pf.low @ (v @ pf.basis), n, pop, ctx_pop, cfg)
    if extra is not None:
        approx += extra
    approx[~allowed] = -np.inf
    m = min(cfg.prefilter_candidates, int(allowed.sum()))
    cand = np.argpartition(-approx, m - 1)[:m] if 0 < m < n else np.flatnonzero(allowed)
    sub = matrix[cand].astype(np.float32)
    exact = _combine(state, lambda v: sub @ v, len(cand), pop[cand], None if ctx_pop is None else ctx_pop[cand], cfg)
    if extra is not None:
        exact += extra[cand]
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
    vecs = matrix[cand].astype(np.float32)
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
