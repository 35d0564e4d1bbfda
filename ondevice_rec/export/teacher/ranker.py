"""A bundle as the teacher (``odrec export --teacher bundle:PATH``): any ranker the runtime can run — an ensemble
of students, a larger student trained with more compute, a bundle exported elsewhere on a GPU — labels the same
candidate sets an LLM teacher would, through the same held-out check and the same distillation path.

The teacher scores exactly as ``Recommender.recommend`` does (``eval.runtime.RuntimeFitted``), from item indices,
so it needs no titles and no fine-tuning: labelling the whole training set takes seconds.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ...datasets import Split
from ...errors import ExportError
from .cache import LabelCache
from .config import TeacherConfig
from .labels import Labeller, LabelTask, candidate_sets, label
from .quality import validation_quality

PREFIX = "bundle:"


class RankerLabeller(Labeller):
    """Labels a task from the user's own item indices: ``valid:<id>`` tasks after the whole training history,
    the others after the training history minus its last item (the position the student distils at)."""

    def __init__(self, fitted: Any, split: Split) -> None:
        self.fitted = fitted
        self.split = split
        self._index = {uid: u for u, uid in enumerate(split.user_ids)}

    def label_task(self, task: LabelTask) -> np.ndarray:
        held_out = task.key.startswith("valid:")
        u = self._index[task.key.removeprefix("valid:")]
        hist = self.split.train[u] if held_out else self.split.train[u][:-1]
        scores = self.fitted.score(np.asarray([u]), [hist])[0]
        return np.asarray(scores[np.asarray(task.cands, np.int64)], dtype=np.float32)

    def label(self, tasks: Any) -> list[np.ndarray]:
        raise ExportError("a ranker teacher labels tasks by their item indices (label_task), not by titles")

    def close(self) -> None:
        close = getattr(self.fitted.encoder, "close", None)
        if close is not None:
            close()


def fitted_bundle(path: str, split: Split, order: str, holdout: bool) -> tuple[Any, str]:
    """The bundle at ``path`` scoring ``split``'s items as the runtime does, and its manifest's sha256 (16). A
    bundle trained on the same dataset must have been trained on the same split (``order``; with ``holdout``,
    without the held-out cold items)."""
    from ...backends import open_encoder
    from ...bundle import load_bundle
    from ...bundle.load import MANIFEST
    from ...eval.runtime import RuntimeFitted

    if not Path(path).is_dir():
        raise ExportError(f"--teacher {PREFIX}{path}: no bundle directory there")
    bundle = load_bundle(path)
    info = bundle.manifest.dataset
    holdout_ok = not holdout or bundle.manifest.trained_without_cold_items
    if info is not None and info.name == split.dataset and (info.split_order != order or not holdout_ok):
        # trained on items this export holds out (another tie order moves test items; a student trained with
        # every item has seen the items held out as cold): its scores would carry them into the labels
        raise ExportError(
            f"--teacher {PREFIX}{path} was trained on the {info.split_order!r} split of {split.dataset} "
            f"{'with every item' if not holdout_ok else ''}: export it with the same --split (and "
            "--holdout-cold-items) as this export, so it has not seen this export's validation and test items"
        )
    encoder = open_encoder(bundle)
    vecs = [
        encoder.item_vectors(split.item_ids[s : s + 256], split.item_text[s : s + 256])
        for s in range(0, split.n_items, 256)
    ]
    counts = np.zeros(split.n_items, dtype=np.float64)
    for seq in split.train:  # without each user's last training item: the one the training labels score
        np.add.at(counts, seq[:-1], 1.0)
    digest = hashlib.sha256((Path(path) / MANIFEST).read_bytes()).hexdigest()[:16]
    return RuntimeFitted(encoder, np.concatenate(vecs), split, counts), digest


def ranker_teacher_stage(
    split: Split,
    spec: str,
    tcfg: TeacherConfig,
    cache_dir: Path,
    log: Callable[[str, float], None],
    *,
    fresh: bool = False,
    order: str = "stable",
    holdout: bool = False,
) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], dict[str, Any]]:
    """Labels from the bundle ``spec`` (``bundle:PATH``) for every user's candidate set, after the same held-out
    check an LLM teacher passes (teacher vs the first-stage retriever on validation candidates). Returns
    (labels, info) as the LLM teacher stage does."""
    path = spec.removeprefix(PREFIX)
    log(f"loading the teacher bundle {path}", 0.0)
    fitted, digest = fitted_bundle(path, split, order, holdout)
    tcfg_all = TeacherConfig(**{**tcfg.__dict__, "label_users": None})  # cheap: every user is labelled
    n = int(sum(len(t) for t in split.train))
    key = hashlib.sha256(repr(("ranker", digest, tcfg_all, split.dataset, split.n_users, split.n_items, n)).encode())
    run_key = key.hexdigest()[:16]
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache = LabelCache(cache_dir / "labels.sqlite")
    labeller = RankerLabeller(fitted, split)
    try:
        if fresh:
            cache.forget(run_key)
        quality = validation_quality(split, tcfg_all, cache, run_key, log, labeller=labeller)
        t0 = time.perf_counter()
        weaker = not quality.get("teacher_beats_retriever") and not tcfg.label_if_weaker
        cands = candidate_sets(split, tcfg.candidates, tcfg.seed)
        labels = {} if weaker else label(split, cands, run_key, cache, tcfg_all, log, labeller=labeller)
        seconds = time.perf_counter() - t0
    finally:
        cache.close()
        labeller.close()
    hits = [float(np.argmax(s) == int(np.flatnonzero(c == split.train[u][-1])[0])) for u, (c, s) in labels.items()]
    info = {
        "used": True,
        "kind": "ranker",
        "base": spec,
        "base_sha256_16": digest,
        "teacher_key": run_key,
        "labeller": "the bundle's own runtime scoring (item indices; no fine-tuning)",
        "labelled_users": len(labels),
        "labelling_skipped": "the teacher did not beat the first-stage retriever on held-out sets" if weaker else None,
        "labelling_seconds": round(seconds, 2),
        "candidates": tcfg.candidates,
        "teacher_hr1_on_candidates": round(float(np.mean(hits)), 4) if hits else None,
        "random_hr1_on_candidates": round(1.0 / tcfg.candidates, 4),
        "validation_quality": quality,
        "config": tcfg_all.__dict__,
    }
    return labels, info
