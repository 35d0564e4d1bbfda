"""Pure ranking functions: user state from events and profile, scoring, context, diversity, reasons.

Everything here is a function of typed config + arrays; the :class:`~ondevice_rec.Recommender` facade owns
the resources (store, model session, caches) and calls into this module.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

EVENT_KINDS = ("view", "click", "like", "rating", "skip", "dislike", "purchase")
DAYPARTS = ("morning", "afternoon", "evening", "night")


@dataclass(frozen=True)
class RankingConfig:
    """Knobs of the default on-device ranking pipeline."""

    history_limit: int = 200  # most recent events that shape the user state
    half_life_events: float = 3.0  # recency by position: the 3rd most recent event counts half
    half_life_days: float = 60.0  # recency by age
    kind_weights: Mapping[str, float] = field(
        default_factory=lambda: {"purchase": 1.2, "like": 1.0, "click": 0.4, "view": 0.3, "skip": -0.3, "dislike": -1.0}
    )
    rating_scale: tuple[float, float] = (1.0, 5.0)  # rating value range; the midpoint is neutral
    profile_weight: float = 0.7  # profile vector relative to the (unit) event centroid
    negative_weight: float = 0.6  # how hard dislikes/skips and "no X" clauses push away
    popularity_weight: float = 0.04  # popularity prior added to personalised scores
    context_weight: float = 0.08  # popularity of the item in the request's context
    context_event_boost: float = 1.0  # events recorded in the request's context count (1 + boost) times
    event_saturation: float = 2.0  # total positive event weight at which events count fully vs the profile
    candidate_pool: int = 200  # candidates re-ranked for diversity
    # catalogues at least this large are searched coarse-to-fine: low-rank scores for every item pick
    # ``prefilter_candidates`` rows, which are then scored exactly (0 = always exact over the whole catalogue)
    prefilter_min_items: int = 20_000
    prefilter_rank: int = 48
    prefilter_candidates: int = 2_000
    default_diversity: float = 0.15  # MMR trade-off: 0 = pure relevance, 1 = pure novelty
    reason_history_min_sim: float = 0.45
    reason_profile_min_sim: float = 0.20


# --- events and context -----------------------------------------------------------------------
def event_weight(kind: str, value: float | None, cfg: RankingConfig) -> float:
    """Signed strength of one event: likes pull the user state towards an item, dislikes push away."""
    if kind == "rating":
        lo, hi = cfg.rating_scale
        mid, half = (lo + hi) / 2, (hi - lo) / 2
        return float(np.clip(((value if value is not None else mid) - mid) / half, -1.0, 1.0))
    return float(cfg.kind_weights.get(kind, 0.0))


def context_keys(context: Mapping[str, Any] | None) -> list[str]:
    """Normalise a request/event context into keys such as ``daypart:evening``, ``week:weekend``,
    ``device:mobile``. ``time`` may be a datetime, an ISO string, an epoch number or a daypart name."""
    if not context:
        return []
    if not isinstance(context, Mapping):
        raise TypeError("context must be a mapping such as {'time': datetime, 'device': 'mobile'}")
    keys: list[str] = []
    unknown = set(context) - {"time", "device"}
    if unknown:
        raise ValueError(f"context has unknown keys {sorted(unknown)} (supported: time, device)")
    t = context.get("time")
    if t is not None:
        if isinstance(t, str) and t.lower() in DAYPARTS:
            keys.append(f"daypart:{t.lower()}")
        else:
            dt = to_datetime(t, "context time")
            h = dt.hour
            part = "night" if h < 5 or h >= 22 else "morning" if h < 12 else "afternoon" if h < 17 else "evening"
            keys.append(f"daypart:{part}")
            keys.append("week:weekend" if dt.weekday() >= 5 else "week:weekday")
    d = context.get("device")
    if d is not None:
        if not isinstance(d, str) or not d.strip() or len(d) > 64:
            raise ValueError("context device must be a short non-empty string such as 'mobile'")
        keys.append(f"device:{d.strip().lower()}")
    return keys


def to_datetime(value: Any, name: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.astimezone()
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a datetime, ISO string or epoch seconds")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite")
        try:
            return datetime.fromtimestamp(float(value), tz=timezone.utc).astimezone()
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{name} is out of range") from None
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name} {value[:40]!r} is not an ISO date/time") from None
        return dt if dt.tzinfo else dt.astimezone()
    raise TypeError(f"{name} must be a datetime, ISO string or epoch seconds, got {type(value).__name__}")


# --- profiles ---------------------------------------------------------------------------------
_NEG_CUE = re.compile(
    r"^\s*(?:(?:and|but|or)\s+)?(?:(?:i|we)\s+)?(?:no|not|never|nothing|without|avoid|hate|hates|dislike|dislikes|"
    r"don'?t\s+(?:like|want|enjoy)|do\s+not\s+(?:like|want|enjoy)|can'?t\s+stand|except|skip|none\s+of)\b[\s:,-]*",
    re.IGNORECASE,
)
_SPLIT = re.compile(r"[.;!?\n,]+|\s+but\s+", re.IGNORECASE)


def split_profile(text: str) -> tuple[list[str], list[str]]:
    """Split a natural-language profile into positive and negative clauses (``"no horror"`` → negative)."""
    pos: list[str] = []
    neg: list[str] = []
    for raw in _SPLIT.split(text):
        clause = raw.strip(" \t-:'\"")
        if len(clause) < 2:
            continue
        m = _NEG_CUE.match(clause)
        if m:
            rest = clause[m.end() :].strip()
            if rest:
                neg.append(rest)
        else:
            pos.append(clause)
    return pos, neg


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


def _unit(v: np.ndarray) -> np.ndarray | None:
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
    ev_pos = _unit(pos_acc)
    if ev_pos is not None and profile_pos is not None:
        # one or two events should not drown a stated profile: scale by how much evidence there is
        ev_pos = ev_pos * min(1.0, float(np.sum(weights)) / cfg.event_saturation)
    pos = ev_pos
    if profile_pos is not None:
        pos = _unit(profile_pos * cfg.profile_weight + (ev_pos if ev_pos is not None else 0.0))
    neg = _unit(neg_acc)
    if profile_neg is not None:
        neg = _unit(profile_neg + (neg if neg is not None else 0.0))
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


# --- reasons ----------------------------------------------------------------------------------
_VERB = {"like": "liked", "purchase": "bought", "rating": "rated", "click": "opened", "view": "viewed"}


_LEAD = re.compile(r"^(?:i|we)\s+(?:really\s+)?(?:love|like|enjoy|adore|prefer|want|am into|'m into)\s+", re.I)


def _quote(s: str, limit: int = 60) -> str:
    s = " ".join(s.split())
    return "“" + (s if len(s) <= limit else s[: limit - 1].rstrip() + "…") + "”"


def explain(
    row: int,
    state: UserState,
    matrix: np.ndarray,
    titles: Sequence[str],
    tags: Sequence[Sequence[str]],
    ctx_pop: np.ndarray | None,
    request_ctx: Sequence[str],
    cfg: RankingConfig,
) -> str:
    """A short sentence saying why ``row`` was recommended, from the strongest contributing signal."""

    def unit(m: np.ndarray) -> np.ndarray:
        return m / np.maximum(np.linalg.norm(m, axis=-1, keepdims=True), 1e-9)

    x = unit(matrix[row])
    best_hist, hist_sim, hist_kind = -1, 0.0, ""
    if state.history_rows.size:
        sims = unit(matrix[state.history_rows]) @ x
        # the most similar history item, recency only as a tie-breaker
        contrib = sims + 0.05 * state.history_weights / max(float(state.history_weights.max()), 1e-9)
        i = int(np.argmax(contrib))
        best_hist, hist_sim, hist_kind = int(state.history_rows[i]), float(sims[i]), state.history_kinds[i]
    clause, clause_sim = "", 0.0
    if state.clause_vecs is not None and len(state.clauses):
        sims = unit(state.clause_vecs) @ x
        i = int(np.argmax(sims))
        clause, clause_sim = state.clauses[i], float(sims[i])
    if best_hist >= 0 and hist_sim >= cfg.reason_history_min_sim and hist_sim >= clause_sim:
        return f"Because you {_VERB.get(hist_kind, 'liked')} {_quote(titles[best_hist])}"
    if clause and clause_sim >= cfg.reason_profile_min_sim:
        return f"Matches your interest in {_quote(_LEAD.sub('', clause) or clause)}"
    if state.history_rows.size:
        liked_tags: dict[str, float] = {}
        for r, w in zip(state.history_rows.tolist(), state.history_weights.tolist()):
            for t in tags[r]:
                liked_tags[t] = liked_tags.get(t, 0.0) + w
        shared = [t for t in tags[row] if t in liked_tags]
        if shared:
            top = max(shared, key=lambda t: liked_tags[t])
            return f"Matches your interest in {top}"
    if ctx_pop is not None and request_ctx and ctx_pop[row] > 0:
        return "Popular " + describe_context(request_ctx)
    return "Close to your recent activity" if state.personalised else "Popular right now"


def describe_context(keys: Sequence[str]) -> str:
    parts = []
    for k in keys:
        kind, _, val = k.partition(":")
        if kind == "daypart":
            parts.append(f"in the {val}" if val != "night" else "at night")
        elif kind == "device":
            parts.append(f"on {val}")
        elif kind == "week":
            parts.append("at weekends" if val == "weekend" else "on weekdays")
    return " ".join(parts) if parts else "right now"
