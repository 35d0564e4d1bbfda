"""Candidate sets:

- ``full``: every item not in the user's history;
- ``llamarec``: LlamaRec's test protocol (``trainer/lru.py`` of Yueeeeeeee/LlamaRec): every item except the last
  200 items of the input sequence (the window the model reads; older history is not masked), used with the
  ``llamarec`` split order;
- ``sampledN``: truth + N−1 items the user never interacted with, seeded and cached so that every model sees
  the same candidates. ``sampled101`` is SASRec's (``util.py`` of kang205/SASRec: truth + 100 negatives).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..datasets import Split
from ..errors import ArgumentError

PROTOCOLS = ("full", "llamarec", "sampled20", "sampled100", "sampled101")
LLAMAREC_WINDOW = 200  # bert_max_len for ml-100k in LlamaRec's config.py: the input window, and what is masked


def n_candidates(protocol: str) -> int | None:
    """How many candidates a sampled protocol ranks (None: the whole catalogue, minus masked history)."""
    if protocol in ("full", "llamarec"):
        return None
    if protocol in ("sampled20", "sampled100", "sampled101"):
        return int(protocol.removeprefix("sampled"))
    raise ArgumentError(f"unknown protocol {protocol!r} (choose from {', '.join(PROTOCOLS)})")


def full_mask(split: Split, u: int, stage: str, protocol: str = "full") -> np.ndarray:
    """Boolean mask over items: candidates are all items except the history the model saw (``llamarec``: its
    last 200 items only)."""
    mask = np.ones(split.n_items, dtype=bool)
    hist = split.history(u, stage)
    mask[hist[-LLAMAREC_WINDOW:] if protocol == "llamarec" else hist] = False
    mask[split.target(u, stage)] = True
    return mask


def sampled_candidates(split: Split, stage: str, n: int, seed: int, cache_dir: Path | None = None) -> np.ndarray:
    """``(n_users, n)`` item indices, column 0 the target, the rest uniform negatives the user never touched."""
    key = hashlib.sha256(
        f"{split.dataset}|{split.n_users}|{split.n_items}|{stage}|{n}|{seed}|".encode()
        + np.concatenate([split.valid, split.test]).tobytes()
    ).hexdigest()[:16]
    path = cache_dir / f"negatives-{split.dataset}-{stage}-{n}-{seed}-{key}.npy" if cache_dir else None
    if path is not None and path.is_file():
        return np.load(path)
    rng = np.random.default_rng(seed)
    out = np.zeros((split.n_users, n), dtype=np.int64)
    for u in range(split.n_users):
        seen = set(split.train[u].tolist()) | {int(split.valid[u]), int(split.test[u])}
        if split.n_items - len(seen) < n - 1:
            raise ArgumentError(
                f"user {split.user_ids[u]} has fewer than {n - 1} unseen items for {n}-candidate sampling"
            )
        out[u, 0] = split.target(u, stage)
        negs: list[int] = []
        taken = set(seen)
        while len(negs) < n - 1:
            j = int(rng.integers(split.n_items))
            if j not in taken:
                taken.add(j)
                negs.append(j)
        out[u, 1:] = negs
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, out)
    return out


def full_protocol_ndcg(
    split: Split,
    stage: str,
    score: Callable[[np.ndarray, Sequence[np.ndarray]], np.ndarray],
    users: np.ndarray | None = None,
    batch: int = 256,
) -> np.ndarray:
    """Per-user NDCG@10 under the ``full`` protocol for a scoring function ``score(users, histories)``
    (used for early stopping and export validation)."""
    return full_protocol_eval(split, stage, score, users, batch)[0]


def full_protocol_eval(
    split: Split,
    stage: str,
    score: Callable[[np.ndarray, Sequence[np.ndarray]], np.ndarray],
    users: np.ndarray | None = None,
    batch: int = 256,
    k: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-user NDCG@10 under the ``full`` protocol and each user's top ``k`` candidates (``(users, k)`` item
    indices, best first): what a quantised model's ranking is compared on."""
    from .metrics import metrics_from_rank, rank_of_target

    users = np.arange(split.n_users) if users is None else np.asarray(users)
    out = []
    top = np.full((len(users), k), -1, dtype=np.int64)  # -1: fewer than k candidates
    for s in range(0, len(users), batch):
        us = users[s : s + batch]
        scores = score(us, [split.history(int(u), stage) for u in us])
        for r, u in enumerate(us):
            cand = np.flatnonzero(full_mask(split, int(u), stage))
            out.append(metrics_from_rank(rank_of_target(scores[r], split.target(int(u), stage), cand))["NDCG@10"])
            kk = min(k, len(cand))
            best = cand[np.argpartition(-scores[r][cand], kk - 1)[:kk]] if kk else cand
            row = best[np.lexsort((best, -scores[r][best]))]
            top[s + r, : len(row)] = row
    return np.asarray(out), top


def top_k_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Mean share of each row's top-k items (``(users, k)`` index arrays, -1 where a user had fewer than k
    candidates) that the other ranking also holds."""
    if a.shape != b.shape or a.size == 0:
        raise ArgumentError("top_k_agreement needs two non-empty rankings of the same shape")
    shares = []
    for x, y in zip(a, b):
        xs, ys = set(x[x >= 0].tolist()), set(y[y >= 0].tolist())
        shares.append(len(xs & ys) / max(1, len(xs)))
    return float(np.mean(shares))
