"""The teacher stage of an export: load → fine-tune (or reuse the cached weights) → the held-out check → label
(resumable), locally, on llama.cpp or on Ray."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...datasets import Split
from ...errors import ExportError
from ...ranking.templates import ranker_prefix, ranker_suffix
from .._deps import require
from .cache import LabelCache
from .config import TeacherConfig
from .labels import Labeller, candidate_sets, label
from .model import FINE_TUNE_FORM, TorchYesNo, default_teacher_path, fine_tune, load_teacher, torch_scorer
from .quality import validation_quality

if TYPE_CHECKING:
    from ...backends.base import Reranker
    from ..distributed import RayRunner


def _llama_cpp_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


@dataclass
class _Backend:
    """How the fine-tuned teacher labels: a worker factory (Ray), a local scorer, their description, the label
    cache key, and the validated GGUF when one was written."""

    factory: Any
    make_scorer: Callable[[], Reranker]
    labeller: str
    label_key: str
    gguf_info: dict[str, Any] | None


def teacher_stage(
    split: Split,
    cfg: Any,
    tcfg: TeacherConfig,
    cache_dir: Path,
    log: Callable[[str, float], None],
    *,
    gguf: bool = False,
    runner: RayRunner | None = None,
    fresh: bool = False,
) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], dict[str, Any]]:
    """Load → fine-tune (or reuse the cached fine-tuned weights) → label candidate sets (resumable).

    With a GGUF teacher and llama.cpp installed (always when ``gguf``), the fine-tuned teacher is written to a
    validated Q8_0 GGUF first and labels with llama.cpp, evaluating each user's history prefix once and only
    each candidate's suffix after it; otherwise it labels in torch. ``info["labeller"]`` says which.
    Returns (labels, info)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    log("loading teacher", 0.0)
    model, tok, base_hash = load_teacher(cfg.teacher)
    run_key = hashlib.sha256(
        repr(
            (
                base_hash,
                FINE_TUNE_FORM,
                tcfg,
                split.dataset,
                split.n_users,
                split.n_items,
                int(sum(len(s) for s in split.train)),
            )
        ).encode()
    ).hexdigest()[:16]
    if fresh:  # this teacher's files and labels only: the directory may hold other exports' caches
        for f in cache_dir.glob(f"teacher-{run_key}.*"):
            f.unlink()
        forgotten = LabelCache(cache_dir / "labels.sqlite")
        try:
            forgotten.forget(run_key)
        finally:
            forgotten.close()
    weights = cache_dir / f"teacher-{run_key}.pt"
    probe: dict[str, Any] = {}
    # the probe decides nothing when the bundle ships the teacher as its re-ranker (its fusion weight does)
    ft = _fine_tuned(model, tok, split, tcfg, weights, log, None if gguf else (cache_dir, run_key, probe))
    if ft.get("stopped_at_step") is not None:
        return {}, _probe_verdict(cfg, base_hash, run_key, ft, probe, tcfg)
    backend = _backend(model, tok, split, cfg, tcfg, cache_dir, run_key, weights, gguf, runner, log)
    if runner is not None:
        backend.labeller += f"; on Ray, {runner.workers} workers"
    cands = candidate_sets(split, tcfg.candidates, tcfg.seed)
    cache = LabelCache(cache_dir / "labels.sqlite")
    local = Labeller(backend.make_scorer()) if runner is None else None
    try:
        before = cache.count(backend.label_key)
        kw: dict[str, Any] = {"labeller": local, "runner": runner, "factory": backend.factory}
        # the held-out check first: a teacher that does not beat the retriever is not distilled from, so
        # labelling every training candidate set for it would be wasted (unless asked for)
        quality = validation_quality(split, tcfg, cache, backend.label_key, log, **kw)
        t_label = time.perf_counter()
        skipped = not quality.get("teacher_beats_retriever") and not tcfg.label_if_weaker
        labels = {} if skipped else label(split, cands, backend.label_key, cache, tcfg, log, **kw)
        t_label = time.perf_counter() - t_label
    finally:
        cache.close()
        if local is not None:
            local.close()
    # how well does the teacher rank the true next item among its candidates?
    hits = [
        float(np.argsort(-s)[:1][0] == int(np.flatnonzero(c == split.train[u][-1])[0])) for u, (c, s) in labels.items()
    ]
    info = {
        "used": True,
        "base": str(cfg.teacher or default_teacher_path().name),
        "base_sha256_16": base_hash,
        "teacher_key": run_key,
        "fine_tune": ft,
        "labeller": backend.labeller,
        "labelled_users": len(labels),
        "labelling_skipped": "the teacher did not beat the first-stage retriever on held-out sets" if skipped else None,
        "labels_reused_from_cache": before,
        # wall time per labelled candidate set (history prefix + every candidate), this run's new labels only
        "seconds_per_label_set": round(t_label / (len(labels) - before), 3) if len(labels) > before else None,
        "candidates": tcfg.candidates,
        "teacher_hr1_on_candidates": round(float(np.mean(hits)), 4) if hits else None,
        "random_hr1_on_candidates": round(1.0 / tcfg.candidates, 4),
        "validation_quality": quality,
        "config": tcfg.__dict__,
    }
    if backend.gguf_info is not None:
        info["gguf"] = backend.gguf_info
    return labels, info


def _fine_tuned(
    model: Any,
    tok: Any,
    split: Split,
    tcfg: TeacherConfig,
    weights: Path,
    log: Callable[[str, float], None],
    probing: tuple[Path, str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Fine-tune ``model`` in place, or load the weights an earlier run of the same key saved; leaves it on the
    CPU in eval mode (GGUF export reads CPU tensors; the torch labeller moves it to its device). With
    ``probing`` (cache dir, run key, a dict the probe's report goes into) the probe runs after
    ``tcfg.probe_steps`` steps; a teacher it stops saves no weights."""
    torch = require("torch")
    if weights.is_file():
        model.load_state_dict(torch.load(weights, map_location="cpu"))
        ft: dict[str, Any] = {"resumed": True}
    else:
        probe = None
        if probing is not None and 0 < tcfg.probe_steps < tcfg.steps:
            cache_dir, run_key, report = probing
            probe = lambda: _probe(model, tok, split, tcfg, cache_dir, run_key, report, log)  # noqa: E731
        ft = fine_tune(model, tok, split, tcfg, log, probe=probe)
        if ft.get("stopped_at_step") is not None:
            model.cpu().eval()
            return ft
        tmp = weights.with_suffix(".partial")
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, tmp)
        os.replace(tmp, weights)
    model.cpu().eval()
    return ft


def _probe(
    model: Any,
    tok: Any,
    split: Split,
    tcfg: TeacherConfig,
    cache_dir: Path,
    run_key: str,
    report: dict[str, Any],
    log: Callable[[str, float], None],
) -> bool:
    """The held-out check on the partly fine-tuned teacher in torch, on few users: go on unless it is clearly
    worse than the retriever (``report`` gets the check's figures and its seconds)."""
    t0 = time.perf_counter()
    probe_cfg = replace(
        tcfg, quality_users=tcfg.probe_users, quality_min_users=tcfg.probe_min_users,
        quality_chunk=max(1, tcfg.probe_min_users // 2),
    )  # fmt: skip
    cache = LabelCache(cache_dir / "labels.sqlite")
    try:
        labeller = Labeller(TorchYesNo(model, tok))
        q = validation_quality(split, probe_cfg, cache, f"{run_key}-probe{tcfg.probe_steps}", log, labeller=labeller)
    finally:
        cache.close()
    report.update(q, seconds=round(time.perf_counter() - t0, 1), after_steps=tcfg.probe_steps)
    behind = q["retriever_ndcg10"] - q["teacher_ndcg10"]
    # fewer held-out sets than the probe asked for: it saw every one there is, and the full check would score the
    # same users again (with the teacher fine-tuned further), needing only its mean above the retriever's. Behind
    # there at all, it stops: a teacher that would only catch up late in its fine-tune is lost (TeacherConfig)
    pool_seen = q["users_planned"] < tcfg.probe_users
    seen = q["users"] >= max(q["users_planned"], tcfg.probe_min_users, 2)
    last_look = seen and (q["difference_se"] > 0 or pool_seen)
    z = 0.0 if pool_seen else tcfg.probe_futility_z
    if not q["decided"] and last_look and behind > z * q["difference_se"]:
        report["decided"] = "worse"  # the futility bound at the last look (TeacherConfig.probe_futility_z)
        report.update(futility=True, futility_z=z, every_held_out_set=pool_seen)
    verdict = "; stopping" if report["decided"] == "worse" else ""
    log(
        f"teacher probe after {tcfg.probe_steps} steps: teacher {q['teacher_ndcg10']} vs retriever "
        f"{q['retriever_ndcg10']} ({q['users']} users){verdict}",
        1.0,
    )
    return bool(report["decided"] != "worse")


def _probe_verdict(
    cfg: Any, base_hash: str, run_key: str, ft: dict[str, Any], probe: dict[str, Any], tcfg: TeacherConfig
) -> dict[str, Any]:
    """The teacher stage's report when the probe stopped it: no weights, GGUF or labels."""
    return {
        "used": True,
        "base": str(cfg.teacher or default_teacher_path().name),
        "base_sha256_16": base_hash,
        "teacher_key": run_key,
        "fine_tune": ft,
        "labeller": None,
        "labelled_users": 0,
        "labelling_skipped": f"the probe after {ft['stopped_at_step']} fine-tuning steps found the teacher clearly "
        "worse than the first-stage retriever on held-out sets",
        "probe": probe,
        "validation_quality": {**probe, "teacher_beats_retriever": False},
        "candidates": tcfg.candidates,
        "config": tcfg.__dict__,
    }


def _backend(
    model: Any,
    tok: Any,
    split: Split,
    cfg: Any,
    tcfg: TeacherConfig,
    cache_dir: Path,
    run_key: str,
    weights: Path,
    gguf: bool,
    runner: RayRunner | None,
    log: Callable[[str, float], None],
) -> _Backend:
    """llama.cpp on a validated Q8_0 GGUF (a GGUF teacher with llama.cpp installed, or ``gguf``), else torch."""
    source = Path(cfg.teacher) if cfg.teacher else default_teacher_path()
    is_gguf = source.is_file() and source.suffix.lower() == ".gguf"
    if not (gguf or (is_gguf and _llama_cpp_available())):
        # the default teacher is found by each worker in its own install (None), any other by its path
        factory = TeacherFactory(
            source=cfg.teacher, weights=str(weights), device=runner.cfg.device if runner else "cpu"
        )
        return _Backend(factory, lambda: TorchYesNo(model.to(tcfg.device), tok), "torch", run_key, None)
    from ...backends.llama import LlamaRanker
    from ..gguf_export import export_validated

    # tokenizer metadata for the GGUF comes from the teacher's own GGUF, else from the default one (an HF teacher
    # with another tokenizer then fails the logit validation rather than exporting a broken file)
    metadata = source if is_gguf else default_teacher_path()
    q8 = cache_dir / f"teacher-{run_key}.q8_0.gguf"
    val_file = q8.with_suffix(".validation.json")
    if q8.is_file() and val_file.is_file():
        validation = json.loads(val_file.read_text())
    else:
        log("writing the teacher as GGUF Q8_0", 0.0)
        prompts = [
            ranker_prefix([split.item_title[i] for i in split.train[u][:-1]])
            + ranker_suffix(split.item_title[split.train[u][-1]])
            for u in range(min(8, split.n_users))
        ]
        validation = export_validated(model, tok, metadata, q8, prompts)
        val_file.write_text(json.dumps(validation))
    return _Backend(
        TeacherFactory(gguf=str(q8)),
        lambda: LlamaRanker(str(q8)),
        "llama.cpp Q8_0: history prefix evaluated once per user, then each candidate's suffix",
        run_key + "-q8_0",
        {"path": str(q8), "validation": validation},
    )


@dataclass(frozen=True)
class TeacherFactory:
    """The fine-tuned teacher inside an actor: the validated Q8_0 GGUF on llama.cpp (``gguf``), or the base
    model with the fine-tuned weights in torch (``source`` + ``weights``)."""

    gguf: str | None = None
    source: str | None = None
    weights: str | None = None
    device: str = "cpu"
    threads: int = 1

    def build(self) -> Any:
        if self.gguf is not None:
            from ...backends.llama import LlamaRanker

            return Labeller(LlamaRanker(self.gguf, threads=self.threads))
        if self.weights is None:
            raise ExportError("a torch teacher worker needs the fine-tuned weights file")
        return Labeller(torch_scorer(self.source, Path(self.weights), device=self.device, threads=self.threads))
