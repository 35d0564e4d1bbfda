"""The body of ``recommend``: user signals → user state → catalogue scores (+ priors) → MMR → optional LLM
re-rank → reasons. A pure function of the snapshot, what the store said about the user, and typed config;
the facade reads the store and passes the result in."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import RankingConfig, for_user
from .profile import Profile
from .reasons import Said, Why, describe_context, explain, render
from .rerank import fused_order
from .scoring import (
    NO_EVENTS,
    Events,
    UserState,
    build_user_state,
    modality_scores,
    score_items,
    score_items_ann,
    score_items_prefiltered,
    score_terms,
    select_mmr,
    unit,
)
from .templates import explain_prompt

if TYPE_CHECKING:
    from ..backends.base import Encoder, Reranker
    from ..live.snapshot import CatalogSnapshot  # the arrays ranking reads, owned by the open store


class Recommendation(dict[str, Any]):
    """One ranked item with a plain-language ``reason`` and its structured ``explanation`` (the signal that
    decided, the contributing items and their weights). A plain dict underneath, so ``json.dumps`` takes it
    (and a list of them) directly; the fields read as attributes too."""

    __slots__ = ()

    def __init__(
        self,
        item_id: str,
        score: float,
        reason: str,
        title: str = "",
        personalized: bool = True,
        explanation: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            item_id=item_id,
            score=float(score),
            reason=reason,
            title=title,
            personalized=bool(personalized),
            explanation=dict(explanation or {}),
        )

    @property
    def item_id(self) -> str:
        return str(self["item_id"])

    @property
    def score(self) -> float:
        return float(self["score"])

    @property
    def reason(self) -> str:
        return str(self["reason"])

    @property
    def title(self) -> str:
        return str(self["title"])

    @property
    def personalized(self) -> bool:
        return bool(self["personalized"])

    @property
    def explanation(self) -> dict[str, Any]:
        return dict(self["explanation"])

    def as_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self))

    def __repr__(self) -> str:
        return f"Recommendation(item_id={self.item_id!r}, score={self.score:.4f}, reason={self.reason!r})"


@dataclass(frozen=True)
class Request:
    """One validated request."""

    k: int
    diversity: float
    context: Sequence[str] = ()  # normalised context keys
    rerank_top: int | None = None  # re-rank this many candidates with the LLM (None: no re-rank)
    llm_reasons: bool = False  # let the LLM word the reasons
    rerank_weight: float | None = None  # weight of the LLM in the fused score (from the bundle; None: LLM alone)
    filters: Filters = field(default_factory=lambda: Filters())


@dataclass(frozen=True)
class Filters:
    """Which items a request may return: any of ``tags`` (None: any item), none of ``exclude_iids``, only
    ``only_iids`` (None: no allow-list), and those whose metadata passes ``where``."""

    tags: frozenset[str] | None = None
    exclude_iids: frozenset[int] = frozenset()
    only_iids: frozenset[int] | None = None
    where: Callable[[dict[str, Any]], bool] | None = None

    @property
    def active(self) -> bool:
        return bool(self.tags is not None or self.exclude_iids or self.only_iids is not None or self.where)


MetaOf = Callable[[Sequence[int]], Mapping[int, dict[str, Any]]]  # iids → their metadata (from the store)
Names = Callable[[Sequence[int]], Mapping[int, tuple[str, str]]]  # iids → (item id, title) (from the store)


@dataclass
class UserSignals:
    """What the store holds about the user, as far as this request may use it."""

    known: bool = False
    consented: bool = False
    excluded: Sequence[int] | np.ndarray = ()  # iids never to recommend (seen, or disliked)
    events: Events = NO_EVENTS  # newest first, ``items`` = store ids; empty without consent
    profile: Profile | None = None  # None without consent
    impressions: Mapping[int, int] = field(default_factory=dict)  # iid → times shown and not chosen


def user_state(
    snap: CatalogSnapshot, signals: UserSignals, req: Request, encoder: Encoder, cfg: RankingConfig
) -> UserState:
    """The user's state in the catalogue's vector space (empty when nothing personal may be used)."""
    empty = UserState(None, None, np.zeros(0, np.int64), np.zeros(0, np.float32), [], [], None)
    if not signals.consented:
        return empty
    events = with_mentions(signals.events, signals.profile, cfg).head(cfg.history_limit)
    events = events.at_rows(snap.rows_of(events.items)) if len(events) else NO_EVENTS
    prof = signals.profile
    pos_m = prof.pos if prof is not None else None
    neg_m = prof.neg if prof is not None else None
    state = build_user_state(
        events,
        snap.vectors,
        profile_pos=unit(pos_m.sum(axis=0)) if pos_m is not None else None,
        profile_neg=unit(neg_m.sum(axis=0)) if neg_m is not None else None,
        clauses=prof.positive if prof is not None else [],
        clause_vecs=pos_m,
        request_ctx=req.context,
        cfg=cfg,
    )
    if encoder.learned_user:
        # the user tower reads the positive events oldest first and the mean profile clause
        rows = events.items[events.weights > 0][::-1]
        history = snap.vectors(rows) if rows.size else np.zeros((0, snap.matrix.shape[1]), np.float32)
        u = encoder.user_vector(history, pos_m.mean(axis=0) if pos_m is not None and len(pos_m) else None)
        learned = unit(u) if u is not None else None
        if learned is not None:
            state.pos = learned
    return state


def with_mentions(events: Events, prof: Profile | None, cfg: RankingConfig) -> Events:
    """The user's events followed, as the oldest, by the items their profile names: a title they loved counts
    as a like, one they did not as a dislike, weighted by how sure the match is; an item with an event of its
    own keeps only that. So a profile that names titles is a history from the first request on, and real
    events take over as they come."""
    if prof is None or not prof.mentions:
        return events
    have = set(events.items.tolist())
    ms = [m for m in prof.mentions if m.iid not in have]
    if not ms:
        return events
    kinds = tuple("like" if m.liked else "dislike" for m in ms)
    weights = np.asarray([cfg.kind_weights.get(k, 0.0) * m.confidence for k, m in zip(kinds, ms)], np.float32)
    oldest = float(events.at.min()) if len(events) else 0.0
    return Events(
        np.concatenate([events.items, np.asarray([m.iid for m in ms], np.int64)]),
        events.kinds + kinds,
        np.concatenate([events.weights, weights]),
        np.concatenate([events.at, np.full(len(ms), oldest - 1.0)]),
        events.ctx + ("",) * len(ms),
    )


def item_item_scores(
    snap: CatalogSnapshot,
    state: UserState,
    encoder: Encoder,
    ids_of: Callable[[list[int]], list[str]],
    scale: float = 1.0,
) -> np.ndarray | None:
    """The bundle's item-item blend for every row (None without one, without a personal history, or at
    ``scale`` 0): the history's summed neighbour similarity (each item's scaled by its recency when the bundle
    has a half-life) × the weight chosen at export × ``scale`` (``RankingConfig.item_item_scale``). ``ids_of``
    gives item ids of store ids; the row → table map is built once per snapshot (one store read) and kept until
    rows are added."""
    ii = encoder.item_item
    if ii is None or state.pos is None or not state.history_rows.size or scale == 0:
        return None
    scores = ii.catalogue_scores(state.history_rows, _table_rows(snap, encoder, ids_of), state.history_at)
    return scores if scale == 1.0 else scores * np.float32(scale)


def profile_model_scores(
    snap: CatalogSnapshot, signals: UserSignals, encoder: Encoder, ids_of: Callable[[list[int]], list[str]],
    cfg: RankingConfig,
) -> np.ndarray | None:  # fmt: skip
    """The bundle's profile model for every row, for a user with no events of their own: what people who name
    the same liked titles (each by its match's confidence) and genres chose, × ``cfg.profile_model_scale``; an
    item carrying a genre the profile refuses ("no horror") is never lifted by it. None without a model, with
    events, without a profile, or at scale 0."""
    model, prof = encoder.profile_model, signals.profile
    if model is None or prof is None or len(signals.events) or cfg.profile_model_scale == 0:
        return None
    table = _table_rows(snap, encoder, ids_of)
    named, conf = _named_rows(snap, table, prof)
    said = [m.said for m in prof.mentions]
    s = model.scores(named, conf, model.genres_in(prof.positive, said))
    if not s.any():
        return None
    out = np.where(table >= 0, s[table.clip(min=0)], 0.0).astype(np.float32)
    refused = frozenset(model.genre_names[k] for k in model.genres_in(prof.negative, said))
    if refused:  # "no horror": what horror fans chose lifts no horror item (its avoid term still applies)
        out = np.where(_tagged(snap, refused), np.minimum(out, 0.0), out)
    return out if cfg.profile_model_scale == 1.0 else out * np.float32(cfg.profile_model_scale)


def _named_rows(snap: CatalogSnapshot, table: np.ndarray, prof: Profile) -> tuple[np.ndarray, np.ndarray]:
    """The bundle's item rows (-1: none) of the titles a profile names as liked, and each match's confidence."""
    liked = [m for m in prof.mentions if m.liked]
    at = snap.rows_of([m.iid for m in liked])
    named = np.where(at >= 0, table[at.clip(min=0)], -1) if len(at) else np.zeros(0, np.int64)
    return named, np.asarray([m.confidence for m in liked], np.float32)


def _tagged(snap: CatalogSnapshot, wanted: frozenset[str]) -> np.ndarray:
    """Per snapshot row, whether the item carries any of the ``wanted`` tags."""
    return np.fromiter((not wanted.isdisjoint(t) for t in snap.tags), dtype=bool, count=len(snap.tags))


def _table_rows(snap: CatalogSnapshot, encoder: Encoder, ids_of: Callable[[list[int]], list[str]]) -> np.ndarray:
    """The bundle's item row of every snapshot row (-1: an item the bundle was not trained on), shared by its
    item-item table and profile model; built once per snapshot (one store read) and kept until rows are added."""
    if snap.table_rows is None or len(snap.table_rows) != len(snap):
        row_of: dict[str, int] = getattr(encoder, "row_of", {})
        snap.table_rows = np.asarray([row_of.get(str(i), -1) for i in ids_of(snap.iids.tolist())], dtype=np.int64)
    return snap.table_rows


def named_titles(profile: Profile | None) -> int:
    """How many catalogue titles a profile names as liked (a user without events: their whole history)."""
    return 0 if profile is None else sum(1 for m in profile.mentions if m.liked)


def _ordered(found: Mapping[int, tuple[str, str]], iids: Sequence[int]) -> list[tuple[str, str]]:
    return [found.get(int(i), ("", "")) for i in iids]


def allowed_rows(snap: CatalogSnapshot, excluded: Sequence[int] | np.ndarray, filters: Filters) -> np.ndarray:
    """Rows a request may return: live items, not excluded, passing the tag and id filters (the metadata
    predicate runs later, on ranked candidates only)."""
    n = len(snap)
    allowed = ~snap.removed if snap.removed.size == n else np.ones(n, dtype=bool)
    gone = snap.rows_of(np.concatenate([np.asarray(excluded, np.int64), np.fromiter(filters.exclude_iids, np.int64)]))
    allowed[gone[gone >= 0]] = False
    if filters.only_iids is not None:
        only = np.zeros(n, dtype=bool)
        keep = snap.rows_of(list(filters.only_iids))
        only[keep[keep >= 0]] = True
        allowed &= only
    if filters.tags is not None:
        allowed &= _tagged(snap, filters.tags)
    return allowed


def _apply_where(
    scores: np.ndarray,
    allowed: np.ndarray,
    snap: CatalogSnapshot,
    where: Callable[[dict[str, Any]], bool],
    meta_of: MetaOf,
    want: int,
) -> np.ndarray:
    """Keep the best-scored allowed rows whose metadata passes ``where`` until ``want`` pass (checked in
    score order, fetched in chunks: the predicate never runs over the whole catalogue unless it must)."""
    cand = np.flatnonzero(allowed & np.isfinite(scores))
    cand = cand[np.lexsort((cand, -scores[cand]))]
    keep = np.zeros_like(allowed)
    found = 0
    for s in range(0, cand.size, 256):
        rows = cand[s : s + 256]
        metas = meta_of([int(snap.iids[r]) for r in rows])
        for r in rows.tolist():
            if where(dict(metas.get(int(snap.iids[r]), {}))):
                keep[r] = True
                found += 1
        if found >= want:
            break
    return keep


def search(
    snap: CatalogSnapshot,
    state: UserState,
    pop: np.ndarray,
    ctx_pop: np.ndarray | None,
    allowed: np.ndarray,
    cfg: RankingConfig,
    blend: np.ndarray | None,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores of the catalogue for this state (``blend``: added to every score: the item-item blend, the
    impression penalty), and the rows that may be picked: through the ANN index when the catalogue has one,
    coarse-to-fine at prefilter size, else exactly over every row."""
    n = len(snap)
    something = state.personalised or blend is not None or bool(pop.any())  # else: a spread, no search
    if snap.ann is not None and cfg.ann_min_items and n >= cfg.ann_min_items and something:
        return score_items_ann(
            state, snap.matrix, snap.nearest_rows, snap.popular, pop, ctx_pop, allowed, cfg, blend, k
        )
    if cfg.prefilter_min_items and n >= cfg.prefilter_min_items and state.pos is not None:
        pf = snap.prefilter(cfg.prefilter_rank)
        return score_items_prefiltered(state, snap.matrix, pf, pop, ctx_pop, allowed, cfg, extra=blend, k=k)
    scores = score_items(state, snap.matrix, pop, ctx_pop, cfg)
    if blend is not None:
        scores += blend
    return scores, allowed


def rank(
    snap: CatalogSnapshot,
    signals: UserSignals,
    req: Request,
    *,
    encoder: Encoder,
    cfg: RankingConfig,
    names: Names,
    reranker: Reranker | None = None,
    meta_of: MetaOf | None = None,
    modalities: Mapping[str, np.ndarray] | None = None,
) -> list[Recommendation]:
    """The top ``req.k`` items of the snapshot for this user, with reasons; ``modalities``: the app-encoded
    vectors of each modality in snapshot row order (see ``live.modalities``)."""
    n = len(snap)
    if n == 0:
        return []
    cfg = for_user(cfg, len(signals.events), named_titles(signals.profile))
    allowed = allowed_rows(snap, signals.excluded, req.filters)
    state = user_state(snap, signals, req, encoder, cfg)
    pop = snap.prior("")
    assert pop is not None
    ctx_pop = _context_prior(snap, req.context)
    ids_of = lambda iids: [v[0] for v in _ordered(names(iids), iids)]  # noqa: E731
    blend = item_item_scores(snap, state, encoder, ids_of, cfg.item_item_scale)
    said = profile_model_scores(snap, signals, encoder, ids_of, cfg)
    penalty = _impression_penalty(snap, signals.impressions, cfg)
    modal = modality_scores(state, modalities, cfg) if modalities else None
    extra = _sum(blend, None if not penalty.any() else -penalty, modal, said)  # part of every score
    scores, allowed = search(snap, state, pop, ctx_pop, allowed, cfg, extra, max(req.k, req.rerank_top or 0))
    rerank = reranker is not None and req.rerank_top is not None
    pool = max(req.k, req.rerank_top or 0) if rerank else req.k
    if req.filters.where is not None and meta_of is not None:
        allowed = _apply_where(scores, allowed, snap, req.filters.where, meta_of, max(pool, cfg.candidate_pool))
    nothing = not state.personalised and blend is None and not pop.any() and (ctx_pop is None or not ctx_pop.any())
    if nothing:  # no popularity, history or profile: a spread across the catalogue's tags, said as such
        fresh = allowed & (penalty == 0)  # items already shown to this user go last
        rows = spread_rows(snap.tags, fresh if fresh.sum() >= pool else allowed, pool)
    else:
        rows = select_mmr(scores, snap.matrix, allowed, pool, float(req.diversity), cfg.candidate_pool)
    if not rows:
        return []
    hist = list(reversed(state.history_rows.tolist()))  # oldest first
    llm = reranker is not None and (rerank or (req.llm_reasons and state.personalised))
    shown = names([int(snap.iids[r]) for r in (*rows, *(hist if llm else ()))])

    def title(r: int) -> str:
        return shown.get(int(snap.iids[r]), ("", ""))[1]

    history_titles = [title(r) for r in hist] if llm else []
    if rerank:
        assert reranker is not None
        fast = np.asarray([scores[r] for r in rows], dtype=np.float64)
        order, fused = fused_order(reranker, history_titles, [title(r) for r in rows], fast, req.rerank_weight)
        rows = [rows[i] for i in order][: req.k]
        scores = scores.copy()
        for i, r in zip(order, rows):
            scores[r] = float(fused[i])
    whys: list[Why | None] = [None] * len(rows)
    if state.personalised and not (reranker is not None and req.llm_reasons):
        terms = _terms_of(rows, state, snap, pop, ctx_pop, blend, penalty, cfg, modal, said)
        said_by = _said(snap, signals, encoder) if said is not None else None
        whys = list[Why | None](_explain(rows, state, snap, encoder, terms, blend is not None, req, cfg, said_by))
        named = {r for w in whys if w is not None for r, _, _ in w.rows}
        missing = [int(snap.iids[r]) for r in named if int(snap.iids[r]) not in shown]
        if missing:
            shown = {**shown, **names(missing)}
    by_row = {r: shown[int(snap.iids[r])] for r in {*rows, *(x for w in whys if w for x, _, _ in w.rows)}
              if int(snap.iids[r]) in shown}  # fmt: skip
    fallback = None
    if not state.personalised:
        terms = _terms_of(rows, state, snap, pop, ctx_pop, blend, penalty, cfg, modal, said)
        per_row = {r: {t: round(float(v[i]), 4) for t, v in terms.items()} for i, r in enumerate(rows)}
        fallback = _Fallback(snap.local_prior(""), snap.catalogue_prior(), nothing, per_row)
    return [
        _recommendation(
            r, float(scores[r]), by_row, why, state, signals, req, ctx_pop, history_titles, reranker, fallback
        )
        for r, why in zip(rows, whys)
    ]


def similar(
    snap: CatalogSnapshot,
    iid: int,
    req: Request,
    *,
    cfg: RankingConfig,
    names: Names,
    meta_of: MetaOf | None = None,
) -> list[Recommendation]:
    """ "More like this": the items closest to ``iid`` in meaning (a whisper of popularity breaks ties),
    with the filters and diversity of ``req``. Uses nothing about any user."""
    r0 = snap.row_of(iid)
    if r0 is None:
        return []
    x = unit(snap.vectors([r0])[0])
    if x is None:
        return []
    allowed = allowed_rows(snap, [iid], req.filters)
    pop = snap.prior("")
    assert pop is not None
    state = UserState(x, None, np.zeros(0, np.int64), np.zeros(0, np.float32), [], [], None)
    like = replace(cfg, popularity_weight=min(cfg.prior_weight, 0.01))
    scores, allowed = search(snap, state, pop, None, allowed, like, None, req.k)
    if req.filters.where is not None and meta_of is not None:
        allowed = _apply_where(scores, allowed, snap, req.filters.where, meta_of, max(req.k, cfg.candidate_pool))
    rows = select_mmr(scores, snap.matrix, allowed, req.k, float(req.diversity), cfg.candidate_pool)
    shown = names([int(snap.iids[r]) for r in (r0, *rows)])
    id0, title0 = shown.get(iid, (str(iid), ""))
    sims = snap.vectors(rows) @ x if rows else np.zeros(0, np.float32)
    out = []
    for r, sim in zip(rows, sims.tolist()):
        item_id, title = shown.get(int(snap.iids[r]), ("", ""))
        why = {"signal": "similar", "items": [{"item_id": id0, "title": title0, "similarity": round(sim, 4)}]}
        reason = f"Similar to “{title0}”" if title0 else f"Similar to {id0}"
        out.append(Recommendation(item_id, float(scores[r]), reason, title, False, why))
    return out


def spread_rows(tags: Sequence[Sequence[str]], allowed: np.ndarray, k: int, sample: int = 64) -> list[int]:
    """``k`` allowed rows when there is nothing to rank by: round-robin over the tags of a fixed scrambled
    sample of the catalogue (most common tag first), so the list shows its range — never its insertion order
    dressed up as a ranking. O(k): only ``sample`` × ``k`` rows are looked at."""
    cand = np.flatnonzero(allowed)
    if not cand.size or k <= 0:
        return []
    scrambled = cand[np.argsort((cand.astype(np.uint64) * np.uint64(2654435761)) % np.uint64(2**32), kind="stable")]
    pool = scrambled[: sample * k].tolist()
    by_tag: dict[str, list[int]] = {}
    for r in pool:
        by_tag.setdefault(tags[r][0] if tags[r] else "", []).append(r)
    queues = sorted(by_tag.values(), key=lambda q: (-len(q), q[0]))
    out: list[int] = []
    while len(out) < min(k, len(pool)):
        for q in queues:
            if q and len(out) < k:
                out.append(q.pop(0))
    return out


def _context_prior(snap: CatalogSnapshot, context: Sequence[str]) -> np.ndarray | None:
    """The mean popularity prior over the request's context keys (zeros where none is known; None: no context)."""
    if not context:
        return None
    parts = [p for p in (snap.prior(c) for c in context) if p is not None]
    return np.mean(parts, axis=0).astype(np.float32) if parts else np.zeros(len(snap), np.float32)


def _impression_penalty(snap: CatalogSnapshot, impressions: Mapping[int, int], cfg: RankingConfig) -> np.ndarray:
    """Per row, how much lower it scores for having been shown to the user and not chosen."""
    penalty = np.zeros(len(snap), dtype=np.float32)
    impressed = snap.rows_of(list(impressions)) if impressions else np.zeros(0, np.int64)
    for r, times in zip(impressed.tolist(), impressions.values()):
        if r >= 0:
            penalty[r] = cfg.impression_penalty * min(times, cfg.impression_cap)
    return penalty


def _explain(
    rows: Sequence[int],
    state: UserState,
    snap: CatalogSnapshot,
    encoder: Encoder,
    terms: Mapping[str, np.ndarray],
    blended: bool,
    req: Request,
    cfg: RankingConfig,
    said: Said | None = None,
) -> list[Why]:
    """Why each personalised pick was chosen (the item-item table names the history item behind a co-occurrence
    reason when the bundle blends one in; ``said``, the profile model's titles and genres behind its picks)."""
    links = None
    if blended and encoder.item_item is not None and snap.table_rows is not None:
        links = encoder.item_item.catalogue_links(state.history_rows, snap.table_rows, state.history_at)
    linked = (lambda _h, r: links(r)) if links is not None else None
    return explain(rows, state, terms, snap.vectors, snap.tags, req.context, cfg, linked, said)


def _said(snap: CatalogSnapshot, signals: UserSignals, encoder: Encoder) -> Said | None:
    """:data:`Said` of the bundle's profile model for this profile (as :func:`profile_model_scores` weighs it)."""
    model, prof = encoder.profile_model, signals.profile
    table = snap.table_rows
    if model is None or prof is None or table is None:
        return None
    titled = bool((_named_rows(snap, table, prof)[0] >= 0).any())  # as ProfileModel.scores reads a profile
    genres = model.genres_in(prof.positive, [m.said for m in prof.mentions])

    def said(history_rows: Sequence[int], row: int) -> tuple[np.ndarray, str, float]:
        target = int(table[row])
        if target < 0:
            return np.zeros(len(history_rows), np.float32), "", 0.0
        links = model.title_links(table[np.asarray(history_rows, np.int64)], target)
        adds = [model.genre_term(k, target, titled) for k in genres]
        k = int(np.argmax(adds)) if adds else -1
        return links, (model.genre_names[genres[k]] if k >= 0 and adds[k] > 0 else ""), max(adds, default=0.0)

    return said


def _terms_of(
    rows: Sequence[int],
    state: UserState,
    snap: CatalogSnapshot,
    pop: np.ndarray,
    ctx_pop: np.ndarray | None,
    blend: np.ndarray | None,
    penalty: np.ndarray,
    cfg: RankingConfig,
    modal: np.ndarray | None = None,
    said: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Every term of the picks' scores (before an LLM re-rank), in ``rows`` order: they sum to the score."""
    idx = np.asarray(rows, dtype=np.int64)
    vecs = snap.vectors(idx)
    terms = score_terms(state, lambda v: vecs @ v, len(idx), pop[idx], None if ctx_pop is None else ctx_pop[idx], cfg)
    terms["item_item"] = blend[idx] if blend is not None else np.zeros(len(idx), np.float32)
    terms["impressions"] = -penalty[idx]
    if modal is not None:
        terms["modalities"] = modal[idx]
    terms["profile_model"] = said[idx] if said is not None else np.zeros(len(idx), np.float32)
    return terms


def _sum(*parts: np.ndarray | None) -> np.ndarray | None:
    """The sum of the parts that are there (None when none is)."""
    got = [p for p in parts if p is not None]
    return None if not got else got[0] if len(got) == 1 else np.sum(got, axis=0)


@dataclass(frozen=True)
class _Fallback:
    """Where the non-personalised ranking's popularity came from, per row (for its reasons)."""

    local: np.ndarray | None  # k-anonymous local popularity
    catalogue: np.ndarray | None  # popularity shipped with the catalogue (or set by the app: set_priors)
    spread: bool = False  # nothing to rank by: the list is a spread across the catalogue's tags
    contributions: Mapping[int, dict[str, float]] = field(default_factory=dict)  # row → each term of its score


def _recommendation(
    r: int,
    score: float,
    names: Mapping[int, tuple[str, str]],
    why: Why | None,
    state: UserState,
    signals: UserSignals,
    req: Request,
    ctx_pop: np.ndarray | None,
    history_titles: list[str],
    reranker: Reranker | None,
    fallback: _Fallback | None,
) -> Recommendation:
    item_id, title = names.get(r, ("", ""))
    if state.personalised and reranker is not None and req.llm_reasons:
        reason = reranker.generate(explain_prompt(history_titles, title))[:160] or "Recommended for you"
        return Recommendation(item_id, score, reason, title, True, {"signal": "llm"})
    if state.personalised and why is not None:
        reason, info = render(why, names)
        if req.rerank_top is not None and reranker is not None:
            info["reranked"] = "llm"
        return Recommendation(item_id, score, reason, title, True, info)
    # only aggregates of at least k people (or the catalogue's own figures) are named: never one person's activity
    if ctx_pop is not None and ctx_pop[r] > 0:
        base, signal = "Popular " + describe_context(req.context), "context"
    elif fallback is not None and fallback.local is not None and fallback.local[r] > 0:
        base, signal = "Popular right now", "popularity"
    elif fallback is not None and fallback.catalogue is not None and fallback.catalogue[r] > 0:
        base, signal = "Popular in the catalogue", "catalogue-popularity"
    elif fallback is not None and fallback.spread:
        base, signal = "From the catalogue, spread across its tags: no popularity to go on", "catalogue-spread"
    else:
        base, signal = "From the catalogue", "catalogue"
    if signals.known and not signals.consented:
        because = "not personalised: personalization consent not given"
        if len(signals.excluded):
            because += "; only items you already interacted with are left out"
    else:
        because = "not personalised: no history or profile yet"
    info2: dict[str, Any] = {"signal": signal, "personalised": False, "because": because}
    if signal == "context":
        info2["context"] = list(req.context)
    if fallback is not None and r in fallback.contributions:
        info2["contributions"] = fallback.contributions[r]
        info2["decided_by"] = {"context": "context", "catalogue-spread": "nothing"}.get(signal, "popularity")
    return Recommendation(item_id, score, f"{base} ({because})", title, False, info2)
