"""Labelling: the candidate sets, the tasks, and running them locally or on Ray workers into the cache."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ...datasets import Split
from ...errors import ExportError
from ...ranking.cooccurrence import cooccurrence_neighbours
from ...ranking.rerank import llm_scores
from .cache import LabelCache
from .config import TeacherConfig

if TYPE_CHECKING:
    from ...backends.base import Reranker
    from ..distributed import RayRunner


def candidate_sets(split: Split, k: int, seed: int) -> dict[int, np.ndarray]:
    """First-stage retriever (item-kNN on training data) top-(k−1) plus the true next item, per user, for the
    position the student distils at (history = train[:-1], target = train[-1])."""
    nb = cooccurrence_neighbours(split.train, split.n_items)  # sparse: a dense n² matrix would not fit at scale
    rng = np.random.default_rng(seed)
    out: dict[int, np.ndarray] = {}
    for u in range(split.n_users):
        seq = split.train[u]
        if len(seq) < 2:
            continue
        hist, target = seq[:-1], int(seq[-1])
        scores = nb.scores(hist)
        scores[hist] = -np.inf
        scores[target] = -np.inf
        top = np.argsort(-scores, kind="stable")[: k - 1]
        top = top[np.isfinite(scores[top])]  # never the history or the target again, however large k is
        cands = np.append(top, target)
        rng.shuffle(cands)
        out[u] = cands
    return out


class Labeller:
    """Teacher scores for (history titles, candidate titles) tasks: the one labelling function, run in the
    export's process or inside each Ray worker."""

    def __init__(self, scorer: Reranker) -> None:
        self.scorer = scorer

    def label(self, tasks: Sequence[tuple[list[str], list[str]]]) -> list[np.ndarray]:
        return [np.asarray(llm_scores(self.scorer, h, c), dtype=np.float32) for h, c in tasks]

    def label_task(self, task: LabelTask) -> np.ndarray:
        """The scores of one task's candidates (a ranker teacher reads its item indices instead of titles)."""
        return self.label([(task.history, task.candidates)])[0]

    def close(self) -> None:
        self.scorer.close()


@dataclass(frozen=True)
class LabelTask:
    key: str  # the cache's user key (``valid:<id>`` for held-out validation sets)
    cands: np.ndarray
    history: list[str]
    candidates: list[str]


def run_labels(
    tasks: Sequence[LabelTask],
    cache: LabelCache,
    teacher_key: str,
    *,
    what: str,
    labeller: Labeller | None = None,
    runner: RayRunner | None = None,
    factory: Any = None,
    progress: Callable[[str, float], None] = lambda m, f: None,
) -> int:
    """Make sure every task has cached scores: in this process with ``labeller``, or on Ray shards (the driver
    commits each finished shard in one transaction). Returns how many were computed now."""
    missing = [t for t in tasks if cache.get(t.key, t.cands, teacher_key) is None]
    if not missing:
        return 0
    if runner is None:
        if labeller is None:
            raise ExportError("labelling needs a teacher in this process or a Ray runner")
        for n, t in enumerate(missing):
            one = getattr(labeller, "label_task", None)  # a ranker reads indices; any other labeller titles
            scores = one(t) if one is not None else labeller.label([(t.history, t.candidates)])[0]
            cache.put(t.key, t.cands, teacher_key, scores)
            progress(what, (n + 1) / len(missing))
        return len(missing)
    size = runner.cfg.shard_users
    shards = [missing[i : i + size] for i in range(0, len(missing), size)]

    def commit(i: int, scores: list[np.ndarray]) -> None:
        if len(scores) != len(shards[i]):
            raise ExportError(f"{what}: a worker returned {len(scores)} labels for {len(shards[i])} tasks")
        cache.put_many([(t.key, t.cands, teacher_key, sc) for t, sc in zip(shards[i], scores)])

    runner.map_shards(
        factory,
        "label",
        [[(t.history, t.candidates) for t in s] for s in shards],
        commit,
        what=what,
        units=[len(s) for s in shards],
        log=progress,
        gpu=runner.cfg.device == "cuda",
    )
    return len(missing)


def label_users(split: Split, cands: dict[int, np.ndarray], cfg: TeacherConfig) -> list[int]:
    """The users whose candidate sets the teacher labels (a seeded sample of ``cfg.label_users``)."""
    users = sorted(cands)
    if cfg.label_users is not None and cfg.label_users < len(users):
        users = sorted(np.random.default_rng(cfg.seed).choice(users, cfg.label_users, replace=False).tolist())
    return users


def training_tasks(split: Split, cands: dict[int, np.ndarray], users: Sequence[int]) -> list[LabelTask]:
    """What the teacher labels for each user: their candidate set after the training history minus its last
    item (the position the student distils at)."""
    return [
        LabelTask(
            split.user_ids[u],
            cands[u],
            [split.item_title[i] for i in split.train[u][:-1]],
            [split.item_title[i] for i in cands[u]],
        )
        for u in users
    ]


def label(
    split: Split,
    cands: dict[int, np.ndarray],
    teacher_hash: str,
    cache: LabelCache,
    cfg: TeacherConfig,
    progress: Callable[[str, float], None] = lambda m, f: None,
    *,
    labeller: Labeller | None = None,
    runner: RayRunner | None = None,
    factory: Any = None,
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Teacher scores for each user's candidate set (cached; already-labelled users are skipped)."""
    users = label_users(split, cands, cfg)
    tasks = training_tasks(split, cands, users)
    run_labels(
        tasks, cache, teacher_hash, what="teacher labelling", labeller=labeller, runner=runner, factory=factory,
        progress=progress,
    )  # fmt: skip
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for u, t in zip(users, tasks):
        scores = cache.get(t.key, t.cands, teacher_hash)
        assert scores is not None  # run_labels filled every task
        out[u] = (t.cands, scores)
    return out
