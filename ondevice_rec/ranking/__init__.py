"""On-device ranking, as typed config + pure functions:

- ``config`` (:class:`RankingConfig`), ``signals`` (what events, contexts and profiles mean),
- ``scoring`` (user state, scores, coarse-to-fine search, MMR), ``reasons`` (plain-language reasons),
- ``profile`` (a profile's clauses and vectors), ``pipeline`` (the body of ``recommend``),
- ``rerank`` (the one LLM re-ranker), ``templates`` (prompts and verbalisations shared with export).
"""

from .config import DAYPARTS, EVENT_KINDS, RankingConfig
from .reasons import describe_context, explain
from .scoring import (
    Prefilter,
    UserState,
    build_prefilter,
    build_user_state,
    score_items,
    score_items_ann,
    score_items_prefiltered,
    select_mmr,
    unit,
)
from .signals import context_keys, event_weight, split_profile, stat_increments, to_datetime

__all__ = [
    "DAYPARTS",
    "EVENT_KINDS",
    "Prefilter",
    "RankingConfig",
    "UserState",
    "build_prefilter",
    "build_user_state",
    "context_keys",
    "describe_context",
    "event_weight",
    "explain",
    "score_items",
    "score_items_ann",
    "score_items_prefiltered",
    "select_mmr",
    "split_profile",
    "stat_increments",
    "to_datetime",
    "unit",
]
