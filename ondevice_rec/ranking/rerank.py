"""LLM re-ranking: the one function that turns (history titles, candidate titles) into LLM scores.

Used by ``recommend(rerank="llm")``, by the evaluation harness's re-rank baseline and by the export's teacher
labelling, so the prompt every stage sees is the same (``ranking.templates``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .templates import ranker_prefix, ranker_suffix

if TYPE_CHECKING:
    from ..backends.base import Reranker


def llm_scores(reranker: Reranker, history_titles: Sequence[str], candidate_titles: Sequence[str]) -> np.ndarray:
    """logit(Yes) − logit(No) per candidate; the history prefix is shared (evaluated once by llama.cpp)."""
    if not len(candidate_titles):
        return np.zeros(0, dtype=np.float32)
    return np.asarray(
        reranker.score(ranker_prefix(history_titles), [ranker_suffix(t) for t in candidate_titles]), dtype=np.float32
    )


def rerank_order(
    reranker: Reranker, history_titles: Sequence[str], candidate_titles: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(order, scores): candidate positions sorted by the LLM's score (stable on ties), and the scores."""
    scores = llm_scores(reranker, history_titles, candidate_titles)
    return np.argsort(-scores, kind="stable"), scores
