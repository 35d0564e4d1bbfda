"""Ranking metrics for one held-out item per user, beyond-accuracy metrics of the top 10 (novelty, intra-list
diversity, serendipity, catalogue coverage), bootstrap confidence intervals and a paired test."""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError

METRICS = ("NDCG@10", "HR@10", "MRR@10", "NDCG@5")
# per-user beyond-accuracy metrics of a top-10 list (catalogue coverage, one figure per run, comes apart)
BEYOND = ("Novelty@10", "ILD@10", "Serendipity@10")
# the satisfaction view, on datasets with ratings: NDCG@10 over users who rated their next item 4 or more, and
# Regret@10, the share of users who rated their next item 2 or less whose top 10 listed it (lower is better)
SATISFACTION = ("SatNDCG@10", "Regret@10")
SATISFIED, REGRETTED = 4.0, 2.0


def satisfaction(values: dict[str, float], rating: float) -> dict[str, float]:
    """The satisfaction view of one user's metric ``values`` given the rating of the held-out item (NaN where
    the user is not in the metric's group)."""
    return {
        "SatNDCG@10": values["NDCG@10"] if rating >= SATISFIED else float("nan"),
        "Regret@10": values["HR@10"] if rating <= REGRETTED else float("nan"),
    }


def rank_of_target(scores: np.ndarray, target: int, candidates: np.ndarray | None = None) -> float:
    """0-based rank of ``target`` among ``candidates`` (all items when None). Ties count half: the expected
    rank under random tie-breaking, so a model cannot gain from giving many items the same score."""
    s = scores if candidates is None else scores[candidates]
    t = scores[target]
    greater = int(np.sum(s > t))
    ties = int(np.sum(s == t)) - 1
    return greater + ties / 2.0


def metrics_from_rank(rank: float) -> dict[str, float]:
    """Per-user metric values from a 0-based rank."""

    def ndcg(k: int) -> float:
        return float(1.0 / np.log2(rank + 2.0)) if rank < k else 0.0  # the one NDCG formula of the package

    return {
        "NDCG@10": ndcg(10),
        "HR@10": 1.0 if rank < 10 else 0.0,
        "MRR@10": float(1.0 / (rank + 1.0)) if rank < 10 else 0.0,
        "NDCG@5": ndcg(5),
    }


def ndcg_of(scores: np.ndarray, target: int, k: int = 10) -> float:
    """Tie-aware NDCG@k of ``target`` (a position in ``scores``) among all of ``scores``."""
    rank = rank_of_target(np.asarray(scores), target)
    return float(1.0 / np.log2(rank + 2.0)) if rank < k else 0.0


def random_ndcg(n_candidates: int, k: int = 10) -> float:
    """Expected NDCG@k of the held-out item under a random ranking of ``n_candidates`` items."""
    n = max(1, int(n_candidates))
    return float(sum(1.0 / np.log2(r + 2.0) for r in range(min(k, n))) / n)


def bootstrap_ci(values: np.ndarray, *, n: int = 1000, seed: int = 0, alpha: float = 0.05) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over users; the values are sorted first, so the interval does
    not depend on the order the users come in."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    if v.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n, v.size))].mean(axis=1)
    return float(np.quantile(means, alpha / 2)), float(np.quantile(means, 1 - alpha / 2))


def paired_test(a: np.ndarray, b: np.ndarray, *, n: int = 10000, seed: int = 0) -> dict[str, float]:
    """Paired comparison of per-user values: mean difference, bootstrap 95 % CI, and a two-sided sign-flip
    permutation p-value; both independent of the order of the users (the differences are sorted first)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ArgumentError("paired_test needs per-user values for the same users")
    d = np.sort(a - b)
    rng = np.random.default_rng(seed)
    obs = abs(d.mean())
    flips = rng.choice([-1.0, 1.0], size=(n, d.size))
    null = np.abs((flips * d).mean(axis=1))
    lo, hi = bootstrap_ci(d, seed=seed)
    return {
        "mean_diff": float(d.mean()),
        "ci_low": lo,
        "ci_high": hi,
        "p_value": float((np.sum(null >= obs - 1e-15) + 1) / (n + 1)),
    }


def paired_upper_bound(a: np.ndarray, b: np.ndarray, *, n: int = 2000, seed: int = 0, alpha: float = 0.05) -> float:
    """One-sided upper ``1 - alpha`` bootstrap bound of mean(a − b) over paired per-user values: "a is worse
    than b by more than m" is shown at level ``alpha`` only when this bound is below −m."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.size == 0:
        raise ArgumentError("paired_upper_bound needs per-user values for the same users (at least one)")
    return bootstrap_ci(a - b, n=n, seed=seed, alpha=2 * alpha)[1]


def top_k(scores: np.ndarray, candidates: np.ndarray, k: int = 10) -> np.ndarray:
    """The ``k`` best of ``candidates`` (item indices) by ``scores``, best first; equal scores in index order."""
    c = np.asarray(candidates)
    return c[np.lexsort((c, -scores[c]))][:k]


def item_popularity(train: list[np.ndarray], n_items: int) -> tuple[np.ndarray, int]:
    """Training users per item, and the number of training users."""
    counts = np.zeros(n_items, dtype=np.int64)
    for h in train:
        counts[np.unique(h)] += 1
    return counts, len(train)


def beyond_accuracy(
    top: np.ndarray, target: int, popular_top: np.ndarray, counts: np.ndarray, n_users: int, tags: np.ndarray | None
) -> dict[str, float]:
    """Beyond-accuracy values of one user's top list ``top``:

    - Novelty@10: mean self-information −log2(p) of the listed items, p the share of training users who had the
      item (an item nobody had counts as one user's): recommending what everyone saw scores low.
    - ILD@10: intra-list diversity, the mean Jaccard distance between the listed items' tags (genres) over all
      pairs (absent when the catalogue has no tags; 0 for a list of one).
    - Serendipity@10: 1 when the held-out item is listed *and* the popularity baseline (same candidates) does not
      list it — a hit the obvious recommender would not have made (Ge et al. 2010, with the one held-out item as
      the relevant set); its mean is the share of users with such a hit.
    """
    p = np.maximum(counts[top], 1) / max(1, n_users)
    hit = bool(np.any(top == target)) and not bool(np.any(popular_top == target))
    out = {"Novelty@10": float(np.mean(-np.log2(p))) if len(top) else 0.0, "Serendipity@10": 1.0 if hit else 0.0}
    if tags is None:
        return out
    out["ILD@10"] = 0.0
    if len(top) > 1:
        t = tags[top].astype(np.float64)
        inter = t @ t.T
        size = t.sum(axis=1)
        union = size[:, None] + size[None, :] - inter
        sim = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        iu = np.triu_indices(len(top), 1)
        out["ILD@10"] = float(np.mean(1.0 - sim[iu]))
    return out


def tag_matrix(item_tags: list[tuple[str, ...]]) -> np.ndarray | None:
    """Items × tags (0/1) for the diversity metric; None when no item has a tag."""
    vocab = sorted({t for tags in item_tags for t in tags})
    if not vocab:
        return None
    index = {t: i for i, t in enumerate(vocab)}
    out = np.zeros((len(item_tags), len(vocab)), dtype=np.uint8)
    for i, tags in enumerate(item_tags):
        out[i, [index[t] for t in tags]] = 1
    return out
