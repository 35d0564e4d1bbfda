"""Reasons in plain words: the strongest contributing signal of a pick, as a short sentence."""

from __future__ import annotations

import re
from collections.abc import Sequence
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


def explain(
    row: int,
    state: UserState,
    matrix: np.ndarray,
    titles: Sequence[str],
    tags: Sequence[Sequence[str]],
    ctx_pop: np.ndarray | None,
    request_ctx: Sequence[str],
    cfg: RankingConfig,
    item_ids: Sequence[str] = (),
) -> tuple[str, dict[str, Any]]:
    """Why ``row`` was recommended: a short sentence from the strongest contributing signal, and the same as
    structure (``signal``: history | profile | tags | context | activity; the contributing ``items`` with
    their similarity and weight, or the ``clause``, ``tag`` or ``context`` that decided)."""

    def unit(m: np.ndarray) -> np.ndarray:
        m = np.asarray(m, dtype=np.float32)
        return m / np.maximum(np.linalg.norm(m, axis=-1, keepdims=True), 1e-9)

    def ident(r: int) -> str:
        return item_ids[r] if item_ids else str(r)

    x = unit(matrix[row])
    best_hist, hist_sim, hist_kind = -1, 0.0, ""
    sims = np.zeros(0, np.float32)
    if state.history_rows.size:
        sims = unit(matrix[state.history_rows]) @ x
        # the history item that means most for this pick: semantic similarity, what the two share beyond their
        # wording (tags: genres, topics), and how strongly the user held it; an item that shares none of the
        # pick's tags (when both have tags) is never named, so a shared title word alone is no reason
        mine = set(tags[row])
        share = np.asarray(
            [len(mine & set(tags[h])) / max(1, len(mine | set(tags[h]))) for h in state.history_rows.tolist()]
        )
        tagged = np.asarray([bool(mine) and bool(tags[h]) for h in state.history_rows.tolist()])
        strength = state.history_weights / max(float(state.history_weights.max()), 1e-9)
        contrib = sims + 0.3 * share + 0.1 * strength
        contrib[tagged & (share == 0)] = -np.inf
        if np.isfinite(contrib).any():
            i = int(np.argmax(contrib))
            best_hist, hist_sim, hist_kind = int(state.history_rows[i]), float(sims[i]), state.history_kinds[i]
    clause, clause_sim = "", 0.0
    if state.clause_vecs is not None and len(state.clauses):
        csims = unit(state.clause_vecs) @ x
        i = int(np.argmax(csims))
        clause, clause_sim = state.clauses[i], float(csims[i])

    def contributing(limit: int = 3) -> list[dict[str, Any]]:
        if not sims.size:
            return []
        order = np.argsort(-sims, kind="stable")[:limit]
        return [
            {
                "item_id": ident(int(state.history_rows[j])),
                "title": titles[int(state.history_rows[j])],
                "similarity": round(float(sims[j]), 4),
                "weight": round(float(state.history_weights[j]), 4),
            }
            for j in order.tolist()
            if sims[j] > 0
        ]

    if best_hist >= 0 and hist_sim >= cfg.reason_history_min_sim and hist_sim >= clause_sim:
        items = contributing()
        top = {"item_id": ident(best_hist), "title": titles[best_hist], "similarity": round(hist_sim, 4)}
        items = [top, *[it for it in items if it["item_id"] != top["item_id"]]][:3]
        return f"Because you {_VERB.get(hist_kind, 'liked')} {_quote(titles[best_hist])}", {
            "signal": "history",
            "items": items,
        }
    if clause and clause_sim >= cfg.reason_profile_min_sim:
        return f"Matches your interest in {_quote(_LEAD.sub('', clause) or clause)}", {
            "signal": "profile",
            "clause": clause,
            "similarity": round(clause_sim, 4),
        }
    if state.history_rows.size:
        liked_tags: dict[str, float] = {}
        for r, w in zip(state.history_rows.tolist(), state.history_weights.tolist()):
            for t in tags[r]:
                liked_tags[t] = liked_tags.get(t, 0.0) + w
        shared = [t for t in tags[row] if t in liked_tags]
        if shared:
            top_tag = max(shared, key=lambda t: liked_tags[t])
            return f"Matches your interest in {top_tag}", {
                "signal": "tags",
                "tag": top_tag,
                "weight": round(liked_tags[top_tag], 4),
                "items": contributing(),
            }
    if ctx_pop is not None and request_ctx and ctx_pop[row] > 0:
        return "Popular " + describe_context(request_ctx), {"signal": "context", "context": list(request_ctx)}
    if state.personalised:
        return "Close to your recent activity", {"signal": "activity", "items": contributing()}
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
