"""The body of ``recommend``: user signals → user state → catalogue scores (+ priors) → MMR → optional LLM
re-rank → reasons. A pure function of the snapshot, what the store said about the user, and typed config;
the facade reads the store and passes the result in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import RankingConfig
from .profile import Profile
from .reasons import describe_context, explain
from .rerank import fused_order
from .scoring import UserState, build_user_state, score_items, score_items_prefiltered, select_mmr, unit
from .signals import event_weight
from .snapshot import CatalogSnapshot
from .templates import explain_prompt

if TYPE_CHECKING:
    from ..backends.base import Encoder, Reranker

EventTuple = tuple[int, str, "float | None", float, str]  # (iid, kind, value, at, ctx)


@dataclass(frozen=True)
class Recommendation:
    """One ranked item with a plain-language reason."""

    item_id: str
    score: float
    reason: str
    title: str = ""
    personalized: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Request:
    """One validated request."""

    k: int
    diversity: float
    context: Sequence[str] = ()  # normalised context keys
    rerank_top: int | None = None  # re-rank this many candidates with the LLM (None: no re-rank)
    llm_reasons: bool = False  # let the LLM word the reasons
    rerank_weight: float | None = None  # weight of the LLM in the fused score (from the bundle; None: LLM alone)


@dataclass
class UserSignals:
    """What the store holds about the user, as far as this request may use it."""

    known: bool = False
    consented: bool = False
    excluded: list[int] = field(default_factory=list)  # iids never to recommend (seen, or disliked)
    events: list[EventTuple] = field(default_factory=list)  # newest first; empty without consent
    profile: Profile | None = None  # None without consent


def user_state(
    snap: CatalogSnapshot, signals: UserSignals, req: Request, encoder: Encoder, cfg: RankingConfig, now: float
) -> UserState:
    """The user's state in the catalogue's vector space (empty when nothing personal may be used)."""
    empty = UserState(None, None, np.zeros(0, np.int64), np.zeros(0, np.float32), [], [], None)
    if not signals.consented:
        return empty
    events = [(snap.row[e[0]], e[1], e[2], e[3], e[4]) for e in signals.events if e[0] in snap.row]
    prof = signals.profile
    pos_m = prof.pos if prof is not None else None
    neg_m = prof.neg if prof is not None else None
    state = build_user_state(
        events,
        snap.matrix,
        profile_pos=unit(pos_m.sum(axis=0)) if pos_m is not None else None,
        profile_neg=unit(neg_m.sum(axis=0)) if neg_m is not None else None,
        clauses=prof.positive if prof is not None else [],
        clause_vecs=pos_m,
        now=now,
        request_ctx=req.context,
        cfg=cfg,
    )
    if encoder.learned_user:
        # the user tower reads the positive events oldest first and the mean profile clause
        rows = [e[0] for e in reversed(events) if event_weight(e[1], e[2], cfg) > 0]
        history = snap.matrix[rows] if rows else np.zeros((0, snap.matrix.shape[1]), np.float32)
        u = encoder.user_vector(history, pos_m.mean(axis=0) if pos_m is not None and len(pos_m) else None)
        learned = unit(u) if u is not None else None
        if learned is not None:
            state.pos = learned
    return state


def rank(
    snap: CatalogSnapshot,
    signals: UserSignals,
    req: Request,
    *,
    encoder: Encoder,
    cfg: RankingConfig,
    now: float,
    reranker: Reranker | None = None,
) -> list[Recommendation]:
    """The top ``req.k`` items of the snapshot for this user, with reasons."""
    n = len(snap)
    if n == 0:
        return []
    allowed = np.ones(n, dtype=bool)
    for iid in signals.excluded:
        r = snap.row.get(iid)
        if r is not None:
            allowed[r] = False
    state = user_state(snap, signals, req, encoder, cfg, now)
    pop = snap.prior("")
    assert pop is not None
    ctx_pop = None
    if req.context:
        parts = [p for p in (snap.prior(c) for c in req.context) if p is not None]
        ctx_pop = np.mean(parts, axis=0).astype(np.float32) if parts else np.zeros(n, np.float32)
    if cfg.prefilter_min_items and n >= cfg.prefilter_min_items and state.pos is not None:
        scores, allowed = score_items_prefiltered(
            state, snap.matrix, snap.prefilter(cfg.prefilter_rank), pop, ctx_pop, allowed, cfg
        )
    else:
        scores = score_items(state, snap.matrix, pop, ctx_pop, cfg)
    rerank = reranker is not None and req.rerank_top is not None
    pool = max(req.k, req.rerank_top or 0) if rerank else req.k
    rows = select_mmr(scores, snap.matrix, allowed, pool, float(req.diversity), cfg.candidate_pool)
    history_titles = [snap.titles[r] for r in reversed(state.history_rows.tolist())]
    fallback = None if state.personalised else _Fallback(snap.local_prior(""), snap.catalogue_prior())
    if rerank and rows:
        assert reranker is not None
        fast = np.asarray([scores[r] for r in rows], dtype=np.float64)
        order, fused = fused_order(reranker, history_titles, [snap.titles[r] for r in rows], fast, req.rerank_weight)
        rows = [rows[i] for i in order][: req.k]
        scores = scores.copy()
        for i, r in zip(order, rows):
            scores[r] = float(fused[i])
    return [
        _recommendation(
            r, float(scores[r]), snap, state, signals, req, ctx_pop, history_titles, cfg, reranker, fallback
        )
        for r in rows
    ]


@dataclass(frozen=True)
class _Fallback:
    """Where the non-personalised ranking's popularity came from, per row (for its reasons)."""

    local: np.ndarray | None  # k-anonymous local popularity
    catalogue: np.ndarray | None  # popularity shipped with the catalogue


def _recommendation(
    r: int,
    score: float,
    snap: CatalogSnapshot,
    state: UserState,
    signals: UserSignals,
    req: Request,
    ctx_pop: np.ndarray | None,
    history_titles: list[str],
    cfg: RankingConfig,
    reranker: Reranker | None,
    fallback: _Fallback | None,
) -> Recommendation:
    title = snap.titles[r]
    if state.personalised and reranker is not None and req.llm_reasons:
        reason = reranker.generate(explain_prompt(history_titles, title))[:160] or "Recommended for you"
        return Recommendation(snap.item_ids[r], score, reason, title, True)
    if state.personalised:
        reason = explain(r, state, snap.matrix, snap.titles, snap.tags, ctx_pop, req.context, cfg)
        return Recommendation(snap.item_ids[r], score, reason, title, True)
    # only aggregates of at least k people (or the catalogue's own figures) are named: never one person's activity
    if ctx_pop is not None and ctx_pop[r] > 0:
        base = "Popular " + describe_context(req.context)
    elif fallback is not None and fallback.local is not None and fallback.local[r] > 0:
        base = "Popular right now"
    elif fallback is not None and fallback.catalogue is not None and fallback.catalogue[r] > 0:
        base = "Popular in the catalogue"
    else:
        base = "From the catalogue"
    if signals.known and not signals.consented:
        why = "not personalised: personalization consent not given"
        if signals.excluded:
            why += "; only items you already interacted with are left out"
    else:
        why = "not personalised: no history or profile yet"
    return Recommendation(snap.item_ids[r], score, f"{base} ({why})", title, False)
