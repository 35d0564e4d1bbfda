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


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 1e-9 else np.zeros_like(x)


def fuse(fast: np.ndarray, llm: np.ndarray, weight: float | None) -> np.ndarray:
    """Fused scores of one candidate list: standardised first-stage scores + ``weight`` × standardised LLM
    scores (``weight`` chosen on validation at export; 0 = the first stage alone; None = the LLM alone, for
    bundles exported before fusion existed)."""
    llm = np.asarray(llm, dtype=np.float64)
    if weight is None:
        return llm
    return _standardise(np.asarray(fast, dtype=np.float64)) + float(weight) * _standardise(llm)


def fused_order(
    reranker: Reranker,
    history_titles: Sequence[str],
    candidate_titles: Sequence[str],
    fast: np.ndarray,
    weight: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(order, fused scores) of a candidate list re-ranked with the LLM (stable on ties)."""
    fused = fuse(fast, llm_scores(reranker, history_titles, candidate_titles), weight)
    return np.argsort(-fused, kind="stable"), fused
