"""Rankers as the teacher, labelling the same candidate sets an LLM teacher would, through the same held-out check
and the same distillation path:

- ``--teacher bundle:PATH``: any bundle the runtime can run (an ensemble of students, a larger student trained with
  more compute, a bundle exported elsewhere on a GPU), scoring exactly as ``Recommender.recommend`` does
  (``eval.runtime.RuntimeFitted``) from item indices, so it needs no titles and no fine-tuning;
- ``--teacher sasrec`` / ``lrurec``: the harness's sequential model on LlamaRec's recipe (``eval.sequential``),
  trained on the export's own training split (validation item for early stopping only, as the student), its
  weights cached beside the labels so that a second export on the same split does not train it again.

Labelling the whole training set takes seconds either way.
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
SEQUENTIAL = ("sasrec", "lrurec")


def is_ranker(spec: str | None) -> bool:
    """Whether ``--teacher spec`` names a ranker (a bundle or a sequential model) rather than a causal LM."""
    return bool(spec) and (str(spec).startswith(PREFIX) or str(spec).lower() in SEQUENTIAL)


def check_teacher_name(spec: str | None) -> None:
    """A teacher's name (sasrec, lrurec, ensemble, blend, residual) that is also a path here is ambiguous: refused
    before any work."""
    if spec and spec.lower() in (*SEQUENTIAL, "ensemble", "blend", "residual") and Path(spec).exists():
        raise ExportError(
            f"--teacher {spec} names both the {spec.lower()} model and the path ./{spec}: pass ./{spec} for the path"
        )


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
        close = getattr(getattr(self.fitted, "encoder", None), "close", None)
        if close is not None:
            close()


def fitted_bundle(path: str, split: Split, order: str, holdout: bool) -> tuple[Any, str]:
    """The bundle at ``path`` scoring ``split``'s items as the runtime does, and its manifest's sha256 (16). A
    bundle trained on the same dataset must have been trained on the same split (``order``; with ``holdout``,
    without the held-out cold items)."""
    from ...bundle import read_manifest
    from ...bundle.load import MANIFEST
    from ...eval.runtime import fit_bundle

    if not Path(path).is_dir():
        raise ExportError(f"--teacher {PREFIX}{path}: no bundle directory there")
    manifest = read_manifest(path)
    info = manifest.dataset
    holdout_ok = not holdout or manifest.trained_without_cold_items
    if info is not None and info.name == split.dataset and (info.split_order != order or not holdout_ok):
        # trained on items this export holds out (another tie order moves test items; a student trained with
        # every item has seen the items held out as cold): its scores would carry them into the labels
        raise ExportError(
            f"--teacher {PREFIX}{path} was trained on the {info.split_order!r} split of {split.dataset} "
            f"{'with every item' if not holdout_ok else ''}: export it with the same --split (and "
            "--holdout-cold-items) as this export, so it has not seen this export's validation and test items"
        )
    digest = hashlib.sha256((Path(path) / MANIFEST).read_bytes()).hexdigest()[:16]
    return fit_bundle(path, split, before_last=True, batch=256), digest


class SequentialTeacher:
    """A trained sequential network scoring every item after a history (``eval.sequential.scores``)."""

    def __init__(self, torch: Any, net: Any, max_len: int, info: dict[str, Any]) -> None:
        self.torch, self.net, self.max_len, self.info = torch, net, max_len, info

    def score(self, users: np.ndarray, histories: Any) -> np.ndarray:
        from ...eval.sequential import scores

        return scores(self.torch, self.net, histories, self.max_len)


def seq_recipe(seed: int) -> Any:
    """The sequential teacher's recipe: the harness's (LlamaRec's), so the teacher is the baseline it reports."""
    from ...eval.sequential import SeqRecipe

    return SeqRecipe(seed=seed)


def fitted_sequential(
    name: str, split: Split, seed: int, cache_dir: Path, log: Callable[[str, float], None]
) -> tuple[SequentialTeacher, str]:
    """``name`` (sasrec or lrurec) trained on ``split`` with LlamaRec's recipe, or loaded from ``cache_dir`` when
    this split and recipe trained it before (the file is named by its key, 16 hex of the training data and the
    recipe, so a stale one is never read); and that key."""
    import json

    from ...backends import default_threads
    from ...eval.sequential import NETS, train_sequential
    from .._deps import require

    torch = require("torch")
    torch.set_num_threads(default_threads())
    recipe = seq_recipe(seed)
    key = hashlib.sha256(repr((name, recipe, split.digest())).encode()).hexdigest()[:16]
    weights, meta = cache_dir / f"{name}-{key}.pt", cache_dir / f"{name}-{key}.json"
    if weights.is_file() and meta.is_file():
        net = NETS[name](torch, split.n_items, recipe)
        net.load_state_dict(torch.load(weights, weights_only=True))
        net.eval()
        log(f"{name} teacher loaded from {weights}", 1.0)
        return SequentialTeacher(torch, net, recipe.max_len, json.loads(meta.read_text())), key
    log(f"training the {name} teacher (LlamaRec's recipe)", 0.0)
    t0 = time.perf_counter()
    net, info = train_sequential(torch, name, split, recipe, log)
    info = {k: v for k, v in info.items() if k != "log"} | {"train_seconds": round(time.perf_counter() - t0, 1)}
    cache_dir.mkdir(parents=True, exist_ok=True)
    for path, write in (
        (meta, lambda p: p.write_text(json.dumps(info))),
        (weights, lambda p: torch.save(net.state_dict(), p)),
    ):
        tmp = path.with_name(path.name + ".tmp")
        write(tmp)
        tmp.replace(path)  # the weights last: present means both are whole
    return SequentialTeacher(torch, net, recipe.max_len, info), key


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
    valid_users: np.ndarray | None = None,
) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], dict[str, Any]]:
    """Labels from the ranker ``spec`` (``bundle:PATH``, ``sasrec`` or ``lrurec``) for every user's candidate set,
    after the same held-out check an LLM teacher passes (teacher vs the first-stage retriever on validation
    candidates). Returns (labels, info) as the LLM teacher stage does, and the teacher's own validation NDCG@10
    (full protocol, over ``valid_users`` — the users the student is early-stopped on), so that "a teacher stronger
    than the student" is read on the same users and metric."""
    from ...eval.protocols import full_protocol_ndcg

    fitted: Any
    trained: dict[str, Any] | None = None
    if spec.lower() in SEQUENTIAL:
        fitted, digest = fitted_sequential(spec.lower(), split, tcfg.seed, cache_dir, log)
        trained = fitted.info
    else:
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
        valid_ndcg = float(full_protocol_ndcg(split, "valid", fitted.score, users=valid_users).mean())
        log(f"teacher validation NDCG@10 {valid_ndcg:.4f} (full protocol)", 1.0)
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
        "labeller": (
            f"{spec} trained on this export's training split (LlamaRec's recipe), scoring item indices"
            if trained is not None
            else "the bundle's own runtime scoring (item indices; no fine-tuning)"
        ),
        "trained": trained,
        "labelled_users": len(labels),
        "labelling_skipped": "the teacher did not beat the first-stage retriever on held-out sets" if weaker else None,
        "labelling_seconds": round(seconds, 2),
        "candidates": tcfg.candidates,
        "teacher_hr1_on_candidates": round(float(np.mean(hits)), 4) if hits else None,
        "random_hr1_on_candidates": round(1.0 / tcfg.candidates, 4),
        "validation_quality": quality,
        "valid_ndcg10": round(valid_ndcg, 5),
        "config": tcfg_all.__dict__,
    }
    return labels, info
