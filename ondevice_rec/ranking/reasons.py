"""Reasons in plain words: the strongest contributing signal of a pick, as a short sentence."""

from __future__ import annotations

import re
from collections.abc import Sequence

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
) -> str:
    """A short sentence saying why ``row`` was recommended, from the strongest contributing signal."""

    def unit(m: np.ndarray) -> np.ndarray:
        return m / np.maximum(np.linalg.norm(m, axis=-1, keepdims=True), 1e-9)

    x = unit(matrix[row])
    best_hist, hist_sim, hist_kind = -1, 0.0, ""
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
