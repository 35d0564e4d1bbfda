"""Pure scoring functions: user state from events and profile, catalogue scores with priors, coarse-to-fine
search for large catalogues, and diversity (MMR). Functions of typed config + arrays only."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .config import RankingConfig
from .signals import event_weights


class VectorRows(Protocol):
    """A catalogue's vectors: a float ndarray, or rows that read as float32 (``store.rows.QuantizedRows``)."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype[Any]: ...

    def __getitem__(self, key: Any, /) -> Any: ...


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
    history_vecs: np.ndarray | None = None  # float32 catalogue vectors of ``history_rows`` (for reasons)
    history_at: np.ndarray | None = None  # time of each ``history_rows`` item's newest positive event

    @property
    def personalised(self) -> bool:
        return self.pos is not None or self.neg is not None


def unit(v: np.ndarray) -> np.ndarray | None:
    """``v`` scaled to unit norm, or None for a (near-)zero vector."""
    n = float(np.linalg.norm(v))
    return (v / n).astype(np.float32) if n > 1e-9 else None


@dataclass(frozen=True)
class Events:
    """A user's events as columns, newest first: ``items`` (store ids as the store hands them over, catalogue
    rows once :meth:`at_rows` has mapped them), kinds, signed weights (:func:`event_weight`), times (epoch
    seconds) and ``|``-joined context keys."""

    items: np.ndarray  # int64
    kinds: tuple[str, ...]
    weights: np.ndarray  # float32
    at: np.ndarray  # float64
    ctx: tuple[str, ...]

    @classmethod
    def of(cls, events: Sequence[tuple[int, str, float | None, float, str]], cfg: RankingConfig) -> Events:
        """Columns of (item, kind, value, at, ctx) tuples, newest first."""
        items, kinds, values, at, ctx = zip(*events) if events else ((), (), (), (), ())
        return cls(
            np.asarray(items, dtype=np.int64),
            tuple(kinds),
            event_weights(kinds, values, cfg),
            np.asarray(at, dtype=np.float64),
            tuple(ctx),
        )

    def __len__(self) -> int:
        return len(self.items)

    def head(self, n: int) -> Events:
        """The newest ``n`` events."""
        if n >= len(self):
            return self
        return Events(self.items[:n], self.kinds[:n], self.weights[:n], self.at[:n], self.ctx[:n])

    def at_rows(self, rows: np.ndarray) -> Events:
        """The same events with ``items`` replaced by ``rows`` (catalogue rows; -1: not in the catalogue, dropped)."""
        keep = np.flatnonzero(rows >= 0)
        if keep.size == len(self):
            return Events(np.asarray(rows, np.int64), self.kinds, self.weights, self.at, self.ctx)
        picks = keep.tolist()
        return Events(
            np.asarray(rows, np.int64)[keep],
            tuple(self.kinds[i] for i in picks),
            self.weights[keep],
            self.at[keep],
            tuple(self.ctx[i] for i in picks),
        )


NO_EVENTS = Events(np.zeros(0, np.int64), (), np.zeros(0, np.float32), np.zeros(0, np.float64), ())


def build_user_state(
    events: Events,
    vectors: Callable[[np.ndarray], np.ndarray],
    *,
    profile_pos: np.ndarray | None,
    profile_neg: np.ndarray | None,
    clauses: Sequence[str] = (),
    clause_vecs: np.ndarray | None = None,
    request_ctx: Sequence[str] = (),
    cfg: RankingConfig,
) -> UserState:
    """``events``: newest first, ``items`` being catalogue rows; ``vectors`` gives float32 rows of the catalogue.

    Two interests, blended: *long-term* — every event (up to ``history_limit``) weighted by its strength and
    a slow decay of its age, measured on the user's own timeline (from their latest event, so a history
    imported from 1998 counts as fully as last week's); *short-term* — the latest session (events with no
    pause over ``session_gap_hours``, at most ``short_term_events``), decayed by position and boosted when
    recorded in the request's context. The short-term share grows to ``short_term_weight`` once the session
    holds ``short_term_full_after`` events: a shift of taste shows within a few events, one stray click
    does not take over, and older taste is kept. Vectorised: each distinct item's vector is read once, so
    the cost grows with the distinct items of the newest ``history_limit`` events, not with a Python loop."""
    ev = events.head(cfg.history_limit)
    w = ev.weights.astype(np.float64)
    active = np.flatnonzero(w != 0.0)
    latest = float(ev.at.max()) if len(ev) else 0.0
    age_days = np.maximum(0.0, latest - ev.at) / 86400.0
    lw = np.abs(w) * 0.5 ** (age_days / cfg.long_half_life_days)
    sw = _short_term_weights(ev, w, active, request_ctx, cfg)
    n_short = int(np.count_nonzero(sw))
    short_weight = cfg.short_term_weight * min(1.0, n_short / max(1, cfg.short_term_full_after))
    # one vector per distinct item: weights are summed per item first (first occurrence = newest, kept in order)
    rows_all = ev.items[active]
    uniq, first, inverse = np.unique(rows_all, return_index=True, return_inverse=True)
    vecs = vectors(uniq) if uniq.size else np.zeros((0, 0), np.float32)
    sign = np.sign(w[active])
    # the four interest vectors (short/long × like/avoid) in one product over the distinct items
    parts = np.zeros((4, uniq.size), dtype=np.float64)
    for k, (weights, s) in enumerate(((sw, 1.0), (lw, 1.0), (sw, -1.0), (lw, -1.0))):
        parts[k] = np.bincount(inverse, weights=np.where(sign == s, weights[active], 0.0), minlength=uniq.size)
    sums = (parts.astype(np.float32) @ vecs) if uniq.size else np.zeros((4, 0), np.float32)

    def summed(k: int) -> np.ndarray | None:
        return unit(sums[k]) if parts[k].any() else None

    ev_pos = _blend(summed(0), summed(1), short_weight)
    contrib = np.bincount(inverse, weights=np.where(sign > 0, lw[active] + sw[active], 0.0), minlength=uniq.size)
    positive = np.bincount(inverse, weights=(sign > 0).astype(np.float64), minlength=uniq.size) > 0
    total = float(contrib.sum())
    if ev_pos is not None and profile_pos is not None:
        # one or two events should not drown a stated profile: scale by how much evidence there is
        ev_pos = ev_pos * min(1.0, total / cfg.event_saturation)
    pos = ev_pos
    if profile_pos is not None:
        pos = unit(profile_pos * cfg.profile_weight + (ev_pos if ev_pos is not None else 0.0))
    neg = _blend(summed(2), summed(3), short_weight)
    if profile_neg is not None:
        neg = unit(profile_neg + (neg if neg is not None else 0.0))
    # the history: items with a positive event, newest first, each with its newest positive event's kind
    first_pos = np.full(uniq.size, len(active), dtype=np.int64)
    np.minimum.at(first_pos, inverse, np.where(sign > 0, np.arange(len(active)), len(active)))
    order = np.flatnonzero(positive)
    order = order[np.argsort(first_pos[order], kind="stable")]
    return UserState(
        pos,
        neg,
        uniq[order].astype(np.int64),
        contrib[order].astype(np.float32),
        [ev.kinds[int(active[first_pos[j]])] for j in order.tolist()],
        list(clauses),
        clause_vecs,
        vecs[order] if uniq.size else None,
        ev.at[active[first_pos[order]]] if uniq.size else np.zeros(0, np.float64),
    )


def _short_term_weights(
    ev: Events, w: np.ndarray, active: np.ndarray, request_ctx: Sequence[str], cfg: RankingConfig
) -> np.ndarray:
    """Per event, its weight in the latest session: the newest events with a non-zero weight, while no pause
    exceeds ``session_gap_hours`` and at most ``short_term_events`` (a loop over at most that many)."""
    sw = np.zeros(len(ev), dtype=np.float64)
    ctx_set = set(request_ctx)
    gap = cfg.session_gap_hours * 3600.0
    prev_at = float(ev.at.max()) if len(ev) else 0.0
    for n_short, i in enumerate(active[: cfg.short_term_events].tolist()):
        at = float(ev.at[i])
        if prev_at - at > gap:
            break
        sw[i] = abs(w[i]) * 0.5 ** (n_short / cfg.half_life_events)
        ctx = ev.ctx[i]
        if ctx_set and ctx and ctx_set.intersection(ctx.split("|")):
            sw[i] *= 1.0 + cfg.context_event_boost
        prev_at = at
    return sw


def _blend(short: np.ndarray | None, long: np.ndarray | None, short_weight: float) -> np.ndarray | None:
    if short is None or long is None:
        return short if long is None else long
    return unit(short_weight * short + (1.0 - short_weight) * long)


def matvec(matrix: VectorRows, v: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """``matrix @ v`` in float32 (a float16 matrix is converted chunk by chunk, never as a whole copy)."""
    if isinstance(matrix, np.ndarray) and matrix.dtype == np.float32:
        return np.asarray(matrix @ v, dtype=np.float32)
    out = np.empty(matrix.shape[0], dtype=np.float32)
    for s in range(0, matrix.shape[0], chunk):
        out[s : s + chunk] = matrix[s : s + chunk].astype(np.float32) @ v
    return out


def score_items(
    state: UserState, matrix: VectorRows, pop: np.ndarray, ctx_pop: np.ndarray | None, cfg: RankingConfig
) -> np.ndarray:
    """One matrix-vector product for the whole catalogue, plus popularity and context priors."""
    return _combine(state, lambda v: matvec(matrix, v), matrix.shape[0], pop, ctx_pop, cfg)


def score_terms(
    state: UserState,
    dot: Callable[[np.ndarray], np.ndarray],
    n: int,
    pop: np.ndarray,
    ctx_pop: np.ndarray | None,
    cfg: RankingConfig,
) -> dict[str, np.ndarray]:
    """Each term of the score of ``n`` items (``dot(v)`` = their vectors @ ``v``): ``similarity`` to what
    the user likes, ``avoid`` (≤ 0, away from what they dislike), ``popularity`` and ``context`` priors. The
    score is their sum; reasons name the largest positive one. The one place the formula is written."""
    zeros = np.zeros(n, dtype=np.float32)
    f32 = np.float32
    terms = {
        "similarity": np.asarray(dot(state.pos), f32) if state.pos is not None else zeros,
        "avoid": f32(-cfg.negative_weight) * np.clip(np.asarray(dot(state.neg), f32), 0.0, None)
        if state.neg is not None
        else zeros,
        "popularity": f32(cfg.prior_weight if state.personalised else 1.0) * np.asarray(pop, f32),
        "context": f32(cfg.context_weight if state.personalised else 0.5) * np.asarray(ctx_pop, f32)
        if ctx_pop is not None
        else zeros,
    }
    return terms


def _combine(
    state: UserState,
    dot: Callable[[np.ndarray], np.ndarray],
    n: int,
    pop: np.ndarray,
    ctx_pop: np.ndarray | None,
    cfg: RankingConfig,
) -> np.ndarray:
    scores = np.zeros(n, dtype=np.float32)
    for term in score_terms(state, dot, n, pop, ctx_pop, cfg).values():
        scores += term
    return scores


@dataclass(frozen=True)
class Prefilter:
    """A rank-``r`` view of the catalogue: ``low = matrix @ basis`` with ``basis`` the top right singular
    vectors of (a sample of) the matrix, so ``low @ (basis.T @ q)`` approximates ``matrix @ q`` at r/d cost."""

    basis: np.ndarray  # (dim, r)
    low: np.ndarray  # (n, r)


def build_prefilter(
    matrix: VectorRows, rank: int, *, sample: int = 20_000, seed: int = 0, chunk: int = 8192
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
    matrix: VectorRows,
    pf: Prefilter,
    pop: np.ndarray,
    ctx_pop: np.ndarray | None,
    allowed: np.ndarray,
    cfg: RankingConfig,
    extra: np.ndarray | None = None,
    k: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Coarse-to-fine scoring: low-rank scores for every item choose ``cfg.prefilter_candidates`` allowed
    rows (at least 20 per item asked for, ``k``), which get exact scores. ``extra`` (the item-item blend) is
    added to both, so that an item the history's neighbours favour can enter the candidates. Returns (scores,
    candidate mask): other rows score −inf and are not allowed."""
    n = matrix.shape[0]
    approx = _combine(state, lambda v: pf.low @ (v @ pf.basis), n, pop, ctx_pop, cfg)
    if extra is not None:
        approx += extra
    approx[~allowed] = -np.inf
    m = min(max(cfg.prefilter_candidates, 20 * k), int(allowed.sum()))
    cand = np.argpartition(-approx, m - 1)[:m] if 0 < m < n else np.flatnonzero(allowed)
    return _exact_on(state, matrix, cand, pop, ctx_pop, allowed, cfg, extra)


def _exact_on(
    state: UserState,
    matrix: VectorRows,
    cand: np.ndarray,
    pop: np.ndarray,
    ctx_pop: np.ndarray | None,
    allowed: np.ndarray,
    cfg: RankingConfig,
    extra: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact scores of the candidate rows; every other row scores −inf and is not allowed."""
    n = matrix.shape[0]
    scores = np.full(n, -np.inf, dtype=np.float32)
    scores[cand] = _exact(state, matrix, cand, pop, ctx_pop, cfg, extra)
    mask = np.zeros(n, dtype=bool)
    mask[cand] = True
    return scores, mask & allowed


def _exact(
    state: UserState,
    matrix: VectorRows,
    rows: np.ndarray,
    pop: np.ndarray,
    ctx_pop: np.ndarray | None,
    cfg: RankingConfig,
    extra: np.ndarray | None,
    vecs: np.ndarray | None = None,
) -> np.ndarray:
    """Exact scores of ``rows`` (``vecs``: their float32 vectors, when the caller has them)."""
    sub = np.asarray(matrix[rows], dtype=np.float32) if vecs is None else vecs
    out = _combine(state, lambda v: sub @ v, len(rows), pop[rows], None if ctx_pop is None else ctx_pop[rows], cfg)
    return out if extra is None else out + extra[rows]


def _constant(value: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    return lambda v: value


def score_items_ann(
    state: UserState,
    matrix: VectorRows,
    nearest: Callable[[np.ndarray, int, np.ndarray], tuple[np.ndarray, bool]],
    popular: Callable[[int, bool], tuple[np.ndarray, np.ndarray | None]],
    pop: np.ndarray,
    ctx_pop: np.ndarray | None,
    allowed: np.ndarray,
    cfg: RankingConfig,
    extra: np.ndarray | None = None,
    k: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates from an ANN index joined with the most popular items, scored exactly (threshold algorithm).

    ``nearest(v, m, allowed)`` gives the rows of about ``m`` items most similar to ``v`` (best first) and
    whether the index gave all ``m``; ``popular(m, vectors)`` the ``m`` most popular rows, highest first, and
    (if asked) their float32 vectors, kept by the caller (the same rows every request). Both lists, and every
    row ``extra`` touches (the item-item blend, impressions), are scored exactly. An item in neither list is no
    more similar than the least similar of the nearest and no more popular than the last of the popular, and
    the avoid term is never positive, so its score is at most that corner's; when ``k`` allowed candidates beat
    the corner, they are the exact top ``k`` (up to the index's own approximation). Otherwise the popular list
    grows fourfold — and the nearest list twofold when more popular items alone could not lower the corner
    enough — at most twice. A filter that leaves few rows, or rounds that end with fewer than ``k`` allowed
    candidates, score the allowed rows exactly instead. Returns (scores, candidate mask) like
    :func:`score_items_prefiltered`."""
    n = matrix.shape[0]
    m_near = min(max(cfg.ann_candidates, 20 * k), n)
    m_pop = min(max(cfg.ann_popular, 20 * k), n)
    left = int(allowed.sum())
    if left <= 4 * m_pop:  # a filter left few rows: score them all
        return _exact_on(state, matrix, np.flatnonzero(allowed), pop, ctx_pop, allowed, cfg, extra)
    ctx_max = None if ctx_pop is None else np.asarray([float(ctx_pop.max())], np.float32)
    seen = np.zeros(n, dtype=bool)
    scores = np.full(n, -np.inf, dtype=np.float32)
    found: list[np.ndarray] = []
    near = np.zeros(0, np.int64)
    pending = [np.flatnonzero(extra) if extra is not None else np.zeros(0, np.int64)]
    asked, complete = 0, False

    def corner(sim: float, m: int) -> float:
        """The best score an item outside both lists could have (every term but ``avoid``, which is ≤ 0)."""
        floor = np.asarray([float(pop[popular(m, False)[0][-1]])])
        terms = score_terms(state, _constant(np.asarray([sim], np.float32)), 1, floor, ctx_max, cfg)
        return float(sum(float(v[0]) for name, v in terms.items() if name != "avoid"))

    def score(rows: np.ndarray, vecs: np.ndarray | None = None) -> None:
        take = ~seen[rows] & allowed[rows]
        seen[rows] = True
        if vecs is None:
            rows = rows[take]
            if rows.size:
                scores[rows] = _exact(state, matrix, rows, pop, ctx_pop, cfg, extra)
                found.append(rows)
        elif take.any():  # score the whole block (one product) rather than copy the rows kept out of it
            scores[rows[take]] = _exact(state, matrix, rows, pop, ctx_pop, cfg, extra, vecs)[take]
            found.append(rows[take])

    for last in (False, False, True):
        if state.pos is not None and m_near > asked:
            (near, complete), asked = nearest(state.pos, m_near, allowed), m_near
            pending.append(near)
        rows = np.concatenate(pending) if pending else np.zeros(0, np.int64)
        pending = []
        rows = np.sort(rows)  # a few hundred: sort beats a hash set
        score(rows[np.concatenate([[True], rows[1:] != rows[:-1]])] if rows.size else rows)
        rows, vecs = popular(m_pop, True)
        score(rows, vecs)
        if last or m_pop >= n:
            break
        sim = 0.0 if state.pos is None else 1.0  # an index that gave fewer than asked certifies nothing
        if state.pos is not None and complete and near.size:
            sim = float(np.min(np.asarray(matrix[near], np.float32) @ state.pos))
        have = np.concatenate(found) if found else np.zeros(0, np.int64)
        kth = float(np.partition(scores[have], have.size - k)[have.size - k]) if have.size >= k else -np.inf
        if kth >= corner(sim, m_pop):
            break
        grow = min(4 * m_pop, n)
        if kth < corner(sim, grow):
            m_near = min(2 * m_near, n)
        m_pop = grow
    have = np.concatenate(found) if found else np.zeros(0, np.int64)
    if have.size < min(k, left):  # the lists held too few allowed rows: every allowed row, exactly
        return _exact_on(state, matrix, np.flatnonzero(allowed), pop, ctx_pop, allowed, cfg, extra)
    mask = np.zeros(n, dtype=bool)
    mask[have] = True
    return scores, mask


def select_mmr(
    scores: np.ndarray, matrix: VectorRows, allowed: np.ndarray, k: int, diversity: float, pool: int
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


def modality_scores(state: UserState, mats: Mapping[str, np.ndarray], cfg: RankingConfig) -> np.ndarray | None:
    """The app-encoded modalities' part of every row's score: per modality, its weight × the cosine of each
    row's (unit) vector with the weighted mean of the user's liked rows' vectors; rows without a vector in a
    modality get nothing from it. None when no modality applies (no history with such vectors)."""
    if not mats or not len(state.history_rows):
        return None
    out: np.ndarray | None = None
    for name, m in mats.items():
        w = float(cfg.modality_weights.get(name, cfg.modality_weight))
        if w == 0.0:
            continue
        liked = m[state.history_rows].T @ state.history_weights.astype(np.float32)
        norm = float(np.linalg.norm(liked))
        if norm < 1e-9:
            continue
        part = w * (m @ (liked / norm))
        out = part if out is None else out + part
    return out
