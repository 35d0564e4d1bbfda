"""Reasons in plain words: the strongest contributing signal of a pick, as a short sentence."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import RankingConfig
from .scoring import UserState

# --- reasons ----------------------------------------------------------------------------------
_VERB = {
    "like": "liked", "purchase": "bought", "rating": "rated", "click": "opened", "view": "viewed",
    "complete": "finished", "dwell": "spent time on",
}  # fmt: skip


_LEAD = re.compile(r"^(?:i|we)\s+(?:really\s+)?(?:love|like|enjoy|adore|prefer|want|am into|'m into)\s+", re.I)


def _quote(s: str, limit: int = 60) -> str:
    s = " ".join(s.split())
    return "“" + (s if len(s) <= limit else s[: limit - 1].rstrip() + "…") + "”"


# the score's terms a reason can name (``avoid`` and impressions only ever lower a score)
REASON_TERMS = ("similarity", "popularity", "context", "item_item", "profile_model")
# the term each reason signal stands for
TERM_OF_SIGNAL = {
    "history": "similarity",
    "profile": "similarity",
    "tags": "similarity",
    "activity": "similarity",
    "popularity": "popularity",
    "context": "context",
    "item_item": "item_item",
    "profile_model": "profile_model",
}
# ``said(history_rows, row)``: per history row what its named title adds to ``row`` through the profile model,
# and the named genre adding most to it with what it adds ("" and 0 without one)
Said = Callable[[Sequence[int], int], tuple[np.ndarray, str, float]]


@dataclass(frozen=True)
class Why:
    """Why one row was picked, before names are looked up: the signal that decided (the largest positive term
    of its score), the rows it names (``rows``: (row, similarity, weight), the first one named in the
    sentence) and every term's contribution."""

    # history | profile | tags | activity (the similarity term) | popularity | context | item_item | profile_model
    signal: str
    rows: tuple[tuple[int, float, float], ...] = ()
    verb: str = ""
    clause: str = ""
    tag: str = ""
    similarity: float = 0.0
    weight: float = 0.0
    context: tuple[str, ...] = ()
    contributions: Mapping[str, float] = field(default_factory=dict)


def _unit(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    return m / np.maximum(np.linalg.norm(m, axis=-1, keepdims=True), 1e-9)


@dataclass(frozen=True)
class _HistoryView:
    """The request's history as reasons read it, computed once for all picks: unit vectors, and its tags as
    flat (history position, tag id) columns so tag overlaps are array operations."""

    rows: list[int]
    unit: np.ndarray
    tag_pos: np.ndarray  # history position of each (position, tag) pair
    tag_ids: np.ndarray  # tag id of each pair
    tag_count: np.ndarray  # tags per history item
    tag_id: dict[str, int]
    tag_weight: np.ndarray  # per tag id, the summed weight of the history items carrying it

    @classmethod
    def of(
        cls, state: UserState, vectors: Callable[[Sequence[int]], np.ndarray], tags: Sequence[Sequence[str]]
    ) -> _HistoryView:
        rows = state.history_rows.tolist()
        if not rows:
            z = np.zeros(0, np.int64)
            return cls([], np.zeros((0, 0), np.float32), z, z, z, {}, np.zeros(0))
        vecs = state.history_vecs if state.history_vecs is not None else vectors(rows)
        held = [tags[r] for r in rows]
        flat = list(itertools.chain.from_iterable(held))
        tag_id = {t: i for i, t in enumerate(dict.fromkeys(flat))}
        tag_count = np.fromiter(map(len, held), np.int64, len(held))
        tag_pos = np.repeat(np.arange(len(rows)), tag_count)
        tag_ids = np.fromiter(map(tag_id.__getitem__, flat), np.int64, len(flat))
        weights = state.history_weights.astype(np.float64)
        return cls(
            rows,
            _unit(vecs),
            tag_pos,
            tag_ids,
            tag_count,
            tag_id,
            np.bincount(tag_ids, weights=weights[tag_pos], minlength=len(tag_id)),
        )

    def shared(self, picks: Sequence[Sequence[str]]) -> np.ndarray:
        """(history items, picks): how many of each pick's tags each history item carries."""
        wanted: dict[int, int] = {}
        cols: list[int] = []
        hot: list[int] = []
        for k, mine in enumerate(picks):
            for t in mine:
                if t in self.tag_id:
                    cols.append(k)
                    hot.append(wanted.setdefault(self.tag_id[t], len(wanted)))
        if not wanted:
            return np.zeros((len(self.rows), len(picks)), np.float32)
        keys = np.fromiter(wanted, np.int64, len(wanted))
        remap = np.full(len(self.tag_id), -1, np.int64)
        remap[keys] = np.arange(len(keys))
        u = remap[self.tag_ids]
        sel = u >= 0
        held = np.zeros((len(self.rows), len(keys)), np.float32)
        np.add.at(held, (self.tag_pos[sel], u[sel]), 1.0)
        pick_tags = np.zeros((len(keys), len(picks)), np.float32)
        pick_tags[hot, cols] = 1.0
        return held @ pick_tags


def explain(
    rows: Sequence[int],
    state: UserState,
    terms: Mapping[str, np.ndarray],
    vectors: Callable[[Sequence[int]], np.ndarray],
    tags: Sequence[Sequence[str]],
    request_ctx: Sequence[str],
    cfg: RankingConfig,
    linked: Callable[[Sequence[int], int], np.ndarray] | None = None,
    said: Said | None = None,
) -> list[Why]:
    """Why each of ``rows`` was picked. ``terms``: each score term's value for the picks (in ``rows``
    order; see ``score_terms``, plus ``item_item`` and ``impressions`` where they apply): the reason names
    the largest positive one, so a pick that popularity carried says so. ``vectors`` gives float32 rows of the
    catalogue; ``linked(history_rows, row)`` the item-item link of each history row to ``row``; ``said`` what
    the profile model's titles and genres add to it (:data:`Said`)."""
    view = _HistoryView.of(state, vectors, tags)
    picks = _unit(vectors(list(rows))) if len(rows) else np.zeros((0, 0), np.float32)
    best, sims = _nearest(rows, picks, state, view, tags)
    out = []
    for i, (r, x) in enumerate(zip(rows, picks)):
        contrib = {name: round(float(v[i]), 4) for name, v in terms.items()}
        out.append(
            _explain_one(r, x, int(best[i]), sims[:, i], state, view, contrib, tags, request_ctx, cfg, linked, said)
        )
    return out


def _nearest(
    rows: Sequence[int], picks: np.ndarray, state: UserState, view: _HistoryView, tags: Sequence[Sequence[str]]
) -> tuple[np.ndarray, np.ndarray]:
    """Per pick, the history item that means most for it (-1: none), and the (history, picks) similarities:
    semantic similarity, what the two share beyond their wording (tags: genres, topics; up to +0.3) and how
    strongly the user held it (up to +0.1). An item that shares none of the pick's tags (when both have tags)
    is never named, so a shared title word alone is no reason. One product for all picks."""
    if not view.rows:
        return np.full(len(rows), -1, np.int64), np.zeros((0, len(rows)), np.float32)
    sims = view.unit @ picks.T
    mine = [tags[r] for r in rows]
    inter = view.shared(mine)
    n_tags = np.asarray([len(t) for t in mine], np.float32)
    union = np.maximum(1.0, n_tags[None, :] + view.tag_count[:, None] - inter)
    strength = state.history_weights / max(float(state.history_weights.max()), 1e-9)
    score = sims + 0.3 * inter / union + 0.1 * strength[:, None]
    score = np.where((n_tags[None, :] > 0) & (view.tag_count[:, None] > 0) & (inter == 0), -np.inf, score)
    best = np.argmax(score, axis=0)
    return np.where(np.isfinite(score[best, np.arange(len(rows))]), best, -1), sims


def _explain_one(
    row: int,
    x: np.ndarray,
    best: int,
    sims: np.ndarray,
    state: UserState,
    view: _HistoryView,
    contrib: dict[str, float],
    tags: Sequence[Sequence[str]],
    request_ctx: Sequence[str],
    cfg: RankingConfig,
    linked: Callable[[Sequence[int], int], np.ndarray] | None,
    said: Said | None = None,
) -> Why:
    hist_sim = float(sims[best]) if best >= 0 else 0.0
    clause, clause_sim = "", 0.0
    if state.clause_vecs is not None and len(state.clauses):
        csims = _unit(state.clause_vecs) @ x
        i = int(np.argmax(csims))
        clause, clause_sim = state.clauses[i], float(csims[i])

    def contributing(first: int = -1, limit: int = 3) -> tuple[tuple[int, float, float], ...]:
        order = [first] if first >= 0 else []
        top = np.argpartition(-sims, limit)[: limit + 1] if sims.size > limit + 1 else np.arange(sims.size)
        top = top[np.lexsort((top, -sims[top]))]  # by similarity, ties by position (deterministic)
        order += [j for j in top.tolist() if j != first and sims[j] > 0]
        return tuple(
            (int(view.rows[j]), round(float(sims[j]), 4), round(float(state.history_weights[j]), 4))
            for j in order[:limit]
        )

    like = best >= 0 and hist_sim >= cfg.reason_history_min_sim and hist_sim >= clause_sim
    verb = _VERB.get(state.history_kinds[best], "liked") if best >= 0 else ""
    term = max(REASON_TERMS, key=lambda t: contrib.get(t, 0.0))
    if contrib.get(term, 0.0) <= 0.0:
        term = "similarity"
    if term == "item_item" and linked is not None and view.rows:
        links = linked(view.rows, row)
        j = int(np.argmax(links)) if links.size else -1
        if j >= 0 and links[j] > 0:
            return Why("item_item", contributing(j, 1), verb=_VERB.get(state.history_kinds[j], "liked"),
                       weight=round(float(links[j]), 4), contributions=contrib)  # fmt: skip
    if term == "profile_model" and said is not None:
        links, genre, g_add = said(view.rows, row)
        j = int(np.argmax(links)) if links.size else -1
        if j >= 0 and links[j] > 0 and links[j] >= g_add:
            return Why("profile_model", contributing(j, 1), verb=_VERB.get(state.history_kinds[j], "liked"),
                       weight=round(float(links[j]), 4), contributions=contrib)  # fmt: skip
        return Why("profile_model", tag=genre, weight=round(g_add, 4), contributions=contrib)
    if term in ("popularity", "context"):
        also = contributing(best, 1) if like else ()
        return Why(term, also, verb=verb, context=tuple(request_ctx), contributions=contrib)
    if like:
        return Why("history", contributing(best), verb=verb, contributions=contrib)
    if clause and clause_sim >= cfg.reason_profile_min_sim:
        return Why("profile", clause=clause, similarity=round(clause_sim, 4), contributions=contrib)
    shared = [t for t in tags[row] if t in view.tag_id]
    if shared:
        top_tag = max(shared, key=lambda t: float(view.tag_weight[view.tag_id[t]]))
        w = round(float(view.tag_weight[view.tag_id[top_tag]]), 4)
        return Why("tags", contributing(), tag=top_tag, weight=w, contributions=contrib)
    if not view.rows:  # no events yet: the profile is all there is to be close to
        return Why("activity", clause=clause, similarity=round(clause_sim, 4), contributions=contrib)
    return Why("activity", contributing(), contributions=contrib)


def render(why: Why, names: Mapping[int, tuple[str, str]]) -> tuple[str, dict[str, Any]]:
    """The sentence and the structured explanation of ``why``; ``names``: row → (item id, title)."""
    items: list[dict[str, Any]] = [
        {"item_id": names[r][0], "title": names[r][1], "similarity": sim, "weight": w}
        for r, sim, w in why.rows
        if r in names
    ]
    first = _quote(str(items[0]["title"] or items[0]["item_id"])) if items else ""
    info: dict[str, Any] = {"signal": why.signal}
    if why.signal == "history" and items:
        sentence = f"Because you {why.verb} {first}"
        info["items"] = items
    elif why.signal == "item_item" and items:
        sentence = f"Often chosen together with {first}, which you {why.verb}"
        info.update(items=items, link=why.weight)
    elif why.signal == "profile_model":
        who = f"also {why.verb} {first}" if items else f"are into {why.tag}" if why.tag else "wrote profiles like yours"
        sentence = f"Chosen by people who {who}"
        info.update(items=items, tag=why.tag, weight=why.weight)
    elif why.signal == "profile":
        text = _LEAD.sub("", why.clause) or why.clause
        sentence = f"Matches your interest in {_quote(text)}"
        info.update(clause=why.clause, similarity=why.similarity)
    elif why.signal == "tags":
        sentence = f"Matches your interest in {why.tag}"
        info.update(tag=why.tag, weight=why.weight, items=items)
    elif why.signal in ("popularity", "context"):
        base = "Popular " + describe_context(why.context) if why.signal == "context" else "Popular here"
        sentence = f"{base} — and like {first}, which you {why.verb}" if items else base
        if why.signal == "context":
            info["context"] = list(why.context)
        if items:
            info["items"] = items
    elif items:
        sentence = "Close to your recent activity"
        info.update(signal="activity", items=items)
    else:  # nothing done yet: never claim "activity"
        sentence = "Suggested from your profile" if why.clause else "Suggested for you"
        info.update(signal="activity", items=items, clause=why.clause, similarity=why.similarity)
    info["decided_by"] = TERM_OF_SIGNAL.get(str(info["signal"]), "similarity")
    info["contributions"] = dict(why.contributions)
    return sentence, info


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
        elif val:
            parts.append(f"when {kind.replace('_', ' ')} is {val}")
    return " ".join(parts) if parts else "right now"
