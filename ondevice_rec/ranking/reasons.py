"""Reasons in plain words: the strongest contributing signal of a pick, as a short sentence."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import RankingConfig
from .scoring import UserState

# --- reasons ----------------------------------------------------------------------------------
_VERB = {"like": "liked", "purchase": "bought", "rating": "rated", "click": "opened", "view": "viewed"}


_LEAD = re.compile(r"^(?:i|we)\s+(?:really\s+)?(?:love|like|enjoy|adore|prefer|want|am into|'m into)\s+", re.I)


def _quote(s: str, limit: int = 60) -> str:
    s = " ".join(s.split())
    return "“" + (s if len(s) <= limit else s[: limit - 1].rstrip() + "…") + "”"


@dataclass(frozen=True)
class Why:
    """Why one row was picked, before names are looked up: the signal that decided and the rows it names
    (``rows``: (row, similarity, weight), the first one named in the sentence)."""

    signal: str  # history | profile | tags | context | activity | popularity
    rows: tuple[tuple[int, float, float], ...] = ()
    verb: str = ""
    clause: str = ""
    tag: str = ""
    similarity: float = 0.0
    weight: float = 0.0
    context: tuple[str, ...] = ()


def _unit(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    return m / np.maximum(np.linalg.norm(m, axis=-1, keepdims=True), 1e-9)


def explain(
    rows: Sequence[int],
    state: UserState,
    vectors: Callable[[Sequence[int]], np.ndarray],
    tags: Sequence[Sequence[str]],
    ctx_pop: np.ndarray | None,
    request_ctx: Sequence[str],
    cfg: RankingConfig,
) -> list[Why]:
    """The strongest contributing signal of each of ``rows`` (``vectors`` gives float32 rows of the catalogue),
    sharing the per-request work: the history's unit vectors and tag sets are computed once, not per pick."""
    hist = state.history_rows.tolist()
    hist_unit = _unit(vectors(hist)) if hist else np.zeros((0, 0), np.float32)
    hist_tags = [frozenset(tags[h]) for h in hist]
    clause_unit = _unit(state.clause_vecs) if state.clause_vecs is not None and len(state.clauses) else None
    picks = _unit(vectors(list(rows))) if len(rows) else np.zeros((0, 0), np.float32)
    return [
        _explain_one(r, x, state, hist, hist_unit, hist_tags, clause_unit, tags, ctx_pop, request_ctx, cfg)
        for r, x in zip(rows, picks)
    ]


def _explain_one(
    row: int,
    x: np.ndarray,
    state: UserState,
    hist: list[int],
    hist_unit: np.ndarray,
    hist_tags: list[frozenset[str]],
    clause_unit: np.ndarray | None,
    tags: Sequence[Sequence[str]],
    ctx_pop: np.ndarray | None,
    request_ctx: Sequence[str],
    cfg: RankingConfig,
) -> Why:
    best, hist_sim = -1, 0.0
    sims = np.zeros(0, np.float32)
    if hist:
        sims = hist_unit @ x
        # the history item that means most for this pick: semantic similarity, what the two share beyond their
        # wording (tags: genres, topics), and how strongly the user held it; an item that shares none of the
        # pick's tags (when both have tags) is never named, so a shared title word alone is no reason
        mine = frozenset(tags[row])
        strength = state.history_weights / max(float(state.history_weights.max()), 1e-9)
        contrib = np.full(len(hist), -np.inf, dtype=np.float64)

        # tags add at most 0.3 and strength 0.1: items more than 0.4 below the most similar one cannot win, so
        # their tag overlap is not computed (the same answer for a fraction of the set operations)
        def score(js: Iterable[int]) -> None:
            for j in js:
                t = hist_tags[j]
                share = len(mine & t) / max(1, len(mine | t))
                if not (mine and t and share == 0):
                    contrib[j] = float(sims[j]) + 0.3 * share + 0.1 * float(strength[j])

        score(np.flatnonzero(sims >= float(sims.max()) - 0.4).tolist())
        if not np.isfinite(contrib).any():  # every near item shares none of the pick's tags: look further
            score(range(len(hist)))
        if np.isfinite(contrib).any():
            best = int(np.argmax(contrib))
            hist_sim = float(sims[best])
    clause, clause_sim = "", 0.0
    if clause_unit is not None:
        csims = clause_unit @ x
        i = int(np.argmax(csims))
        clause, clause_sim = state.clauses[i], float(csims[i])

    def contributing(first: int = -1, limit: int = 3) -> tuple[tuple[int, float, float], ...]:
        order = [first] if first >= 0 else []
        order += [j for j in np.argsort(-sims, kind="stable").tolist() if j != first and sims[j] > 0]
        return tuple(
            (int(hist[j]), round(float(sims[j]), 4), round(float(state.history_weights[j]), 4)) for j in order[:limit]
        )

    if best >= 0 and hist_sim >= cfg.reason_history_min_sim and hist_sim >= clause_sim:
        return Why("history", contributing(best), verb=_VERB.get(state.history_kinds[best], "liked"))
    if clause and clause_sim >= cfg.reason_profile_min_sim:
        return Why("profile", clause=clause, similarity=round(clause_sim, 4))
    if hist:
        liked_tags: dict[str, float] = {}
        for r, w in zip(hist, state.history_weights.tolist()):
            for t in tags[r]:
                liked_tags[t] = liked_tags.get(t, 0.0) + w
        shared = [t for t in tags[row] if t in liked_tags]
        if shared:
            top_tag = max(shared, key=lambda t: liked_tags[t])
            return Why("tags", contributing(), tag=top_tag, weight=round(liked_tags[top_tag], 4))
    if ctx_pop is not None and request_ctx and ctx_pop[row] > 0:
        return Why("context", context=tuple(request_ctx))
    if state.personalised:
        return Why("activity", contributing())
    return Why("popularity")


def render(why: Why, names: Mapping[int, tuple[str, str]]) -> tuple[str, dict[str, Any]]:
    """The sentence and the structured explanation of ``why``; ``names``: row → (item id, title)."""
    items: list[dict[str, Any]] = [
        {"item_id": names[r][0], "title": names[r][1], "similarity": sim, "weight": w}
        for r, sim, w in why.rows
        if r in names
    ]
    if why.signal == "history" and items:
        first = str(items[0]["title"] or items[0]["item_id"])
        return f"Because you {why.verb} {_quote(first)}", {
            "signal": "history",
            "items": items,
        }
    if why.signal == "profile":
        text = _LEAD.sub("", why.clause) or why.clause
        return f"Matches your interest in {_quote(text)}", {
            "signal": "profile",
            "clause": why.clause,
            "similarity": why.similarity,
        }
    if why.signal == "tags":
        return f"Matches your interest in {why.tag}", {
            "signal": "tags",
            "tag": why.tag,
            "weight": why.weight,
            "items": items,
        }
    if why.signal == "context":
        return "Popular " + describe_context(why.context), {"signal": "context", "context": list(why.context)}
    if why.signal == "activity":
        return "Close to your recent activity", {"signal": "activity", "items": items}
    return "Popular right now", {"signal": "popularity"}


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
