"""The held-out check: does the teacher beat the first-stage retriever on validation candidates? Sequential,
stopping as soon as the difference is clear."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ...datasets import Split
from ...eval.metrics import ndcg_of, random_ndcg
from ...ranking.cooccurrence import cooccurrence_neighbours
from .cache import LabelCache
from .config import TeacherConfig
from .labels import Labeller, LabelTask, run_labels

if TYPE_CHECKING:
    from ..distributed import RayRunner


def validation_quality(
    split: Split,
    tcfg: TeacherConfig,
    cache: LabelCache,
    teacher_key: str,
    progress: Callable[[str, float], None] = lambda m, f: None,
    *,
    labeller: Labeller | None = None,
    runner: RayRunner | None = None,
    factory: Any = None,
) -> dict[str, Any]:
    """The teacher against the first-stage retriever on held-out candidate sets, as a re-ranker is judged
    (LlamaRec's protocol): for users in a random order, the retriever's top k after their whole training history;
    where it retrieved the validation item (with a positive score), each ranks those k and the mean NDCG@10 of
    the validation item is compared. Neither was trained on that item, so this says whether distilling from the
    teacher can help (the export skips distillation when it does not). Inserting the item into sets that did not
    retrieve it would bias the check against the retriever: it ranks such an item low by construction, so a
    teacher guessing at random would win."""
    nb = cooccurrence_neighbours(split.train, split.n_items)  # sparse: a dense n² matrix would not fit at scale
    rng = np.random.default_rng(tcfg.seed + 1)
    users = [u for u in range(split.n_users) if len(split.train[u]) >= 1]
    order = rng.permutation(len(users))  # a random order, so that every prefix is a random sample
    want = tcfg.quality_users or len(users)
    # (user, candidates, position of the validation item, the retriever's scores of the candidates)
    sets: list[tuple[int, np.ndarray, int, np.ndarray]] = []
    scanned = 0
    for i in order:
        if len(sets) >= want:
            break
        u = users[i]
        scanned += 1
        hist, target = split.train[u], int(split.valid[u])
        knn = nb.scores(hist)
        knn[hist] = -np.inf
        if not knn[target] > 0:
            continue
        cands = np.argsort(-knn, kind="stable")[: tcfg.candidates]
        if target not in cands:
            continue
        rng.shuffle(cands)
        sets.append((u, cands, int(np.flatnonzero(cands == target)[0]), knn[cands]))
    tasks = [
        LabelTask(
            "valid:" + split.user_ids[u],
            c,
            [split.item_title[i] for i in split.train[u]],
            [split.item_title[i] for i in c],
        )
        for u, c, _, _ in sets
    ]
    t_ndcg: list[float] = []
    r_ndcg: list[float] = []
    decided = ""
    chunk = max(1, tcfg.quality_chunk)
    for start in range(0, len(tasks), chunk):
        part = tasks[start : start + chunk]
        run_labels(
            part, cache, teacher_key, what=f"teacher vs retriever on validation ({start + len(part)} users)",
            labeller=labeller, runner=runner, factory=factory, progress=progress,
        )  # fmt: skip
        for (_, cands, pos, retrieved), task in zip(sets[start : start + chunk], part):
            scores = cache.get(task.key, cands, teacher_key)
            assert scores is not None
            t_ndcg.append(ndcg_of(np.asarray(scores), pos))
            r_ndcg.append(ndcg_of(retrieved, pos))
        decided = _clear_difference(np.subtract(t_ndcg, r_ndcg), tcfg.quality_z, tcfg.quality_min_users)
        if decided and len(t_ndcg) < len(tasks):
            progress(f"teacher vs retriever decided after {len(t_ndcg)} of {len(tasks)} users: teacher {decided}", 1.0)
            break
    t, r = float(np.mean(t_ndcg)) if t_ndcg else 0.0, float(np.mean(r_ndcg)) if r_ndcg else 0.0
    diff = np.subtract(t_ndcg, r_ndcg)
    se = float(np.std(diff, ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
    return {
        "users": len(t_ndcg),
        "users_planned": len(tasks),
        "users_scanned": scanned,  # users looked at to find that many sets that retrieved the validation item
        "stopped_early": len(t_ndcg) < len(tasks),
        "candidates": tcfg.candidates,
        "teacher_ndcg10": round(t, 4),
        "retriever_ndcg10": round(r, 4),
        "difference_se": round(se, 4),
        "random_ndcg10": round(random_ndcg(tcfg.candidates), 4),
        "teacher_beats_retriever": t > r,
        "decided": decided,  # "better" / "worse" when the sequential test was clear, "" when it was not
    }


def _clear_difference(diff: np.ndarray, z: float, min_n: int) -> str:
    """'better' / 'worse' once the mean paired difference is ``z`` standard errors from zero (from ``min_n``
    on), else ''."""
    if len(diff) < max(2, min_n):
        return ""
    se = float(np.std(diff, ddof=1) / np.sqrt(len(diff)))
    mean = float(np.mean(diff))
    if se == 0.0:
        return "better" if mean > 0 else "worse" if mean < 0 else ""
    return "better" if mean > z * se else "worse" if mean < -z * se else ""
