"""``odrec export``: data → (teacher labels) → student → ONNX fp32/int8 → validation → bundle.

Every stage reports progress; a failed validation fails the export and leaves no bundle behind (the bundle is
written to a temporary directory and renamed only at the end).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .._version import __version__
from ..backends import default_threads
from ..backends.onnx_text import OnnxTextEncoder
from ..backends.two_tower import TwoTowerEncoder
from ..bundle import (
    Bundle,
    DatasetInfo,
    LlmRankerSpec,
    Manifest,
    TwoTowerSpec,
    default_bundle_path,
    load_bundle,
    sha256_bytes,
    write_bundle,
)
from ..datasets import Split, cold_item_split, leave_one_out, load_dataset, profile_from_history
from ..errors import ExportError
from ..eval.metrics import ndcg_of, paired_upper_bound
from ..eval.protocols import full_protocol_eval, top_k_agreement
from ..ranking.cooccurrence import Neighbours
from ._deps import require
from .cold_start import choose_cold_start
from .distributed import RayConfig, RayRunner, embed_local, embed_on_ray
from .item_item import candidate_tables, choose_blend, table_bytes
from .student import (
    EnsembleTeacher,
    StudentConfig,
    build_ensemble,
    checkpoint_finished,
    export_arrays,
    student_ndcg,
    train_student,
    validation_users,
)
from .validate import Gate, ValidationReport, compare_outputs, validate

Log = Callable[[str, float], None]
_T = TypeVar("_T")

# share of the time budget kept for the stages after the students (the ensemble's own validation, ONNX,
# validation, the item-item choice, cold start; the item-item tables are built before the students): on Amazon
# Sports (18,227 items) 50 + 8 + ~90 + ~80 s unloaded, 44 s in all on ml-latest-small; 15 % of the default 30
# minutes is 270 s
BUDGET_RESERVE = 0.15


@dataclass(frozen=True)
class ExportConfig:
    dataset: str
    data_dir: str
    formats: tuple[str, ...] = ("onnx",)
    teacher: str | None = None  # path to a GGUF or HF causal-LM dir; None = default SmolLM2
    use_teacher: bool = True
    seed: int = 0
    max_users: int | None = None
    min_rating: float | None = None
    core: int = 5
    split_order: str = "stable"  # timestamp tie-break (datasets.splits.ORDERS): llamarec = LlamaRec's split
    # train without the items ``odrec eval``'s cold-item scenario holds out (same seed), so that scenario
    # measures the student fairly on items it has never seen
    holdout_cold_items: bool = False
    student: StudentConfig = field(default_factory=StudentConfig)
    teacher_cfg: Any = None  # TeacherConfig; None = defaults
    # distillation weights tried beside 0, the one with the highest validation NDCG@10 kept (None: the student's
    # ``distill_weight`` alone); each costs one student training
    distill_weights: tuple[float, ...] | None = None
    fusion_users: int = 300  # validation users the LLM re-rank weight is chosen on
    # ship item-kNN's co-occurrence neighbours and blend them in with a weight chosen on validation (0: dropped)
    item_item: bool = True
    # a JSON Lines catalogue of the app's own item vectors (``{"id", "vectors": {"image": [...]}}``) the item
    # tower reads beside the text (``export.item_vectors``); the bundle then asks the runtime for them
    item_vectors: str | None = None
    # validation gates
    max_abs_onnx_vs_torch: float = 1e-4
    # int8 fails when it is worse than fp32 by more than this on validation NDCG@10, shown by a paired one-sided
    # 95 % bound (not the difference of two means, which one user of a small validation set can move by more)
    max_ndcg_drop_int8: float = 0.003
    # ... or when it changes the ranking itself: mean share of the fp32 top 10 that int8 keeps
    min_top10_agreement_int8: float = 0.8
    # the export's target wall time (None: none). With the automatic seed ensemble (``student.ensemble`` 0) a
    # further member is trained only when the time so far plus the longest member's training still ends within
    # ``1 - BUDGET_RESERVE`` of it, and a student still training then stops at its next validation, its best
    # state kept; an ensemble asked for by number (``student.ensemble``, or ``--teacher ensemble``/``blend``/
    # ``residual``) is trained in full
    time_budget_s: float | None = None  # `odrec export --time-budget`: 30 minutes

    def __post_init__(self) -> None:
        if self.time_budget_s is not None and not (math.isfinite(self.time_budget_s) and self.time_budget_s > 0):
            raise ExportError(f"the time budget must be a positive number of seconds or None, got {self.time_budget_s}")
        grid = self.distill_weights or ()
        if not all(isinstance(w, (int, float)) and math.isfinite(w) and w >= 0 for w in grid):
            raise ExportError(f"distillation weights must be finite and 0 or more, got {list(grid)}")
        if any(w > 0 for w in grid) and not self.student.distill_weight > 0:
            raise ExportError(
                "distill_weights names weights above 0 but student.distill_weight is 0 (distillation off)"
            )

    def digest(self) -> str:
        return sha256_bytes(json.dumps(asdict(self), sort_keys=True, default=str).encode())


def _split(cfg: ExportConfig) -> tuple[Split, np.ndarray | None]:
    """The training split, and with ``holdout_cold_items`` the mask of the items held out of it."""
    from dataclasses import replace

    split = leave_one_out(
        load_dataset(cfg.dataset, cfg.data_dir), min_rating=cfg.min_rating, core=cfg.core, order=cfg.split_order
    )
    if cfg.max_users and cfg.max_users < split.n_users:
        keep = np.sort(np.random.default_rng(cfg.seed).choice(split.n_users, cfg.max_users, replace=False))
        split = replace(
            split,
            user_ids=[split.user_ids[u] for u in keep],
            train=[split.train[u] for u in keep],
            valid=split.valid[keep],
            test=split.test[keep],
        )
    if split.n_users < 10 or split.n_items < 10:
        raise ExportError(f"dataset too small to train a ranker: {split.n_users} users, {split.n_items} items")
    if cfg.holdout_cold_items:
        return cold_item_split(split, cfg.seed)
    return split, None


def export_user_tower(model: Any, cfg: StudentConfig, path: Path) -> None:
    torch = require("torch")

    nn: Any = torch.nn

    class Tower(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.user = model.user

        def forward(self, history: Any, profile: Any) -> Any:
            return self.user(history, profile)[:, -1]

    tower = Tower().eval()
    h = torch.randn(2, 7, cfg.tower_dim)
    p = torch.randn(2, cfg.tower_dim)
    kwargs: dict[str, Any] = {}
    import inspect

    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    with torch.no_grad():
        torch.onnx.export(
            tower,
            (h, p),
            str(path),
            input_names=["history", "profile"],
            output_names=["user"],
            dynamic_axes={"history": {0: "batch", 1: "length"}, "profile": {0: "batch"}, "user": {0: "batch"}},
            opset_version=17,
            **kwargs,
        )


class _Stages(dict[str, float]):
    """Seconds per stage and each stage's own peak resident memory (MB): the process's high-water mark when the
    stage raised it (exact), else the most sampled during it (every 50 ms, where /proc reports it; elsewhere the
    high-water mark so far). A cumulative mark alone would show an early stage's peak for every later one."""

    def __init__(self) -> None:
        super().__init__()
        self.peak_mb: dict[str, float] = {}
        self.started = time.monotonic()

    def deadline(self, budget_s: float | None) -> float | None:
        """The ``time.monotonic()`` by which optional work must end for the export to keep ``budget_s``."""
        return None if budget_s is None else self.started + (1.0 - BUDGET_RESERVE) * budget_s

    def run(self, stage: str, fn: Callable[[], _T]) -> _T:
        """``fn()``, timed as ``stage``."""
        before = peak_rss_mb()
        t = time.perf_counter()
        with _RssSampler() as sampled:
            out = fn()
        self[stage] = time.perf_counter() - t
        after = peak_rss_mb()
        self.peak_mb[stage] = after if after > before or sampled.peak == 0.0 else sampled.peak
        return out


class _RssSampler:
    """The most resident memory (MB) read from ``/proc/self/statm`` every ``every`` seconds while entered (0 where
    there is no such file)."""

    def __init__(self, every: float = 0.05) -> None:
        self.every, self.peak = every, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _read(self) -> float:
        try:
            pages = int(Path("/proc/self/statm").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            return 0.0
        return round(pages * _PAGE / (1024 * 1024), 1)

    def _loop(self) -> None:
        while True:
            self.peak = max(self.peak, self._read())
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._read())


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (0 where the platform does not report it)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kb / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)  # macOS reports bytes


def _cold_item_validation(
    encoder: TwoTowerEncoder,
    split: Split,
    cold: np.ndarray | None,
    item_vecs: np.ndarray,
    vectors: list[dict[str, np.ndarray]] | None = None,
) -> dict[str, Any]:
    """With held-out items: validation NDCG@10 of the users whose validation item is one of them (scored, as
    the cold-item scenario scores them, from their text alone), and of every user with those items in the
    catalogue as text-only items — the figures an id-dropout setting is chosen on (test items never are)."""
    if cold is None:
        return {}
    vecs = item_vecs.copy()
    rows = np.flatnonzero(cold)
    for s in range(0, len(rows), 64):
        part = rows[s : s + 64]
        ids, texts = [split.item_ids[i] for i in part], [split.item_text[i] for i in part]
        got = None if vectors is None else [vectors[i] for i in part]
        vecs[part] = encoder.item_vectors(ids, texts, unknown=[True] * len(part), vectors=got)
    users = np.flatnonzero(cold[split.valid])
    everyone = _encoder_ndcg(encoder, split, "valid", vecs)[0]
    return {
        "valid_ndcg10_cold_items": round(float(everyone[users].mean()), 5) if len(users) else None,
        "valid_cold_item_users": int(len(users)),
        "valid_ndcg10_with_cold_items": round(float(everyone.mean()), 5),
    }


def _encoder_ndcg(
    encoder: TwoTowerEncoder, split: Split, stage: str, item_vecs: np.ndarray, users: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-user NDCG@10 (full protocol) of a runtime two-tower encoder, scored exactly as ``odrec eval`` does,
    and each user's top 10."""
    score = lambda us, hists: encoder.score_histories(item_vecs, hists)  # noqa: E731
    return full_protocol_eval(split, stage, score, users=users, batch=128)


def run_export(
    cfg: ExportConfig,
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    log: Log = lambda m, f: None,
    cache_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    ray: RayConfig | None = None,
) -> Manifest:
    """Run every stage and write the bundle to ``out``; return its manifest.

    Teacher weights and labels are cached in ``cache_dir`` (default ``<out>.cache``); with ``resume`` an
    interrupted export continues from them, otherwise the cache is cleared first. With ``ray``, item texts are
    embedded and the teacher labels on Ray workers (the same functions, so the same bundle); the recipe and its
    digest do not change."""
    if ray is None:
        return _run_export(cfg, out, overwrite=overwrite, log=log, cache_dir=cache_dir, resume=resume, runner=None)
    from .distributed import RayRunner

    with RayRunner(ray) as runner:
        return _run_export(cfg, out, overwrite=overwrite, log=log, cache_dir=cache_dir, resume=resume, runner=runner)


# --- the stages of an export: each a function of explicit inputs, run in order by _run_export ------------------


@dataclass
class Data:
    """Stage "data": the leave-one-out split (and the held-out cold items' mask)."""

    split: Split
    cold: np.ndarray | None
    interactions: int


@dataclass
class Embedded:
    """Stage "text_embeddings": the default bundle's text encoder and what it made of items and histories."""

    base: Bundle
    encoder: OnnxTextEncoder
    items: np.ndarray  # the item tower's input features: the text vector, then any modality vectors
    profiles: np.ndarray
    modalities: dict[str, int] = field(default_factory=dict)  # app-encoded modalities among ``items``' features
    vectors: list[dict[str, np.ndarray]] | None = None  # each item's vectors of those modalities
    vectors_report: dict[str, Any] | None = None


@dataclass
class Taught:
    """Stage "teacher": the teacher's labels (None when it is not used or lost on validation) and its report."""

    labels: Any = None
    info: dict[str, Any] = field(default_factory=lambda: {"used": False})


@dataclass
class Trained:
    """Stage "student_training": the student chosen on validation, its training report and the distillation
    weights tried."""

    model: Any
    info: dict[str, Any]
    distillation: dict[str, Any]
    shipped: StudentConfig | None = None  # the student as shipped (``ensemble`` 1 when one alone did better)


@dataclass
class Towers:
    """Stage "onnx_export": the bundle's files so far, the two-tower spec and the runtime encoders over them."""

    spec: TwoTowerSpec
    files: dict[str, bytes | Path]
    encoders: dict[str, TwoTowerEncoder]
    item_vecs: np.ndarray


def check_request(cfg: ExportConfig, out: str | os.PathLike[str], overwrite: bool) -> None:
    unknown = set(cfg.formats) - {"onnx", "gguf"}
    if unknown:
        raise ExportError(f"unknown export format(s) {sorted(unknown)} (choose from onnx, gguf)")
    if Path(out).exists() and not overwrite:
        raise ExportError(f"output {out} already exists (pass --overwrite)")
    from .teacher.ensemble import is_ensemble
    from .teacher.ranker import check_teacher_name, is_ranker

    if cfg.use_teacher:
        check_teacher_name(cfg.teacher)
    elif cfg.teacher is not None:
        raise ExportError(f"--teacher {cfg.teacher} and --no-teacher contradict each other: pass one of them")
    if "gguf" in cfg.formats and (is_ranker(cfg.teacher) or is_ensemble(cfg.teacher)):
        raise ExportError(f"--formats gguf exports a fine-tuned LLM teacher: the ranker teacher {cfg.teacher} has none")
    if cfg.use_teacher and is_ensemble(cfg.teacher) and cfg.student.ensemble == 1:
        raise ExportError(
            f"--teacher {cfg.teacher} is the export's own seed ensemble: pass --ensemble 2 or more (or 0: 3)"
        )
    if cfg.use_teacher and str(cfg.teacher).lower() == "residual" and not cfg.item_item:
        raise ExportError(
            "--teacher residual trains the student with the item-item table it ships with: drop --no-item-item"
        )
    if cfg.use_teacher and is_ensemble(cfg.teacher) and cfg.student.loss == "sampled":
        raise ExportError(
            f"--teacher {cfg.teacher} distils over the whole catalogue: it needs --loss full or auto, not sampled"
        )
    if cfg.item_vectors is not None and not Path(cfg.item_vectors).is_file():
        raise ExportError(f"--item-vectors {cfg.item_vectors}: no such file")
    if "gguf" in cfg.formats and not (cfg.use_teacher and cfg.student.distill_weight > 0):
        raise ExportError(
            "--formats gguf exports the fine-tuned teacher: it needs the teacher stage "
            "(do not pass --no-teacher or --distill-weight 0)"
        )


def data_stage(cfg: ExportConfig, log: Log) -> Data:
    log("loading data and splitting", 0.0)
    split, cold = _split(cfg)
    n = int(sum(len(s) for s in split.train))
    log(f"{split.n_users} users, {split.n_items} items, {n} training interactions", 1.0)
    return Data(split, cold, n)


def embed_stage(split: Split, runner: RayRunner | None, log: Log, item_vectors: str | None = None) -> Embedded:
    base = load_bundle(default_bundle_path())
    te = base.manifest.encoder
    encoder = OnnxTextEncoder(te, base.file(te.model), base.file(te.tokenizer), what="default text encoder")
    profile_texts = [profile_from_history(split, split.train[u]) for u in range(split.n_users)]
    if runner is None:
        # one-thread encoders, as every Ray worker embeds: the vectors are then bitwise the same with and without
        # --ray (onnxruntime's reductions depend on the thread count), and so is everything trained on them; one
        # process per training thread, each embedding whole batches of a contiguous chunk
        items = embed_local(split.item_text, default_threads())
        profiles = embed_local(profile_texts, default_threads())
    else:
        items = embed_on_ray(runner, split.item_text, log)
        profiles = embed_on_ray(runner, profile_texts, log)
    log(f"embedded {split.n_items} items", 1.0)
    if item_vectors is None:
        return Embedded(base, encoder, items, profiles)
    from .item_vectors import read_item_vectors

    got = read_item_vectors(item_vectors, split.item_ids)
    log(f"item vectors {got.dims} for {got.report['items_with_vectors']} of {split.n_items} items", 1.0)
    feats = np.concatenate([items, got.block()], axis=1)
    return Embedded(base, encoder, feats, profiles, got.dims, got.per_item, got.report)


def teach_stage(
    cfg: ExportConfig,
    split: Split,
    cache: Path,
    resume: bool,
    runner: RayRunner | None,
    log: Log,
    emb: Embedded | None = None,
    ckpt: Checkpoints | None = None,
) -> Taught:
    """The teacher's labels, cached in ``cache``: this teacher's earlier entries are dropped first unless
    ``resume``; nothing else in the directory is touched (it may be shared across exports). ``--teacher
    ensemble`` trains the export's own students (``emb``'s embeddings, checkpointed through ``ckpt``)."""
    from .teacher import TeacherConfig, teacher_stage
    from .teacher.ensemble import ensemble_teacher_stage, is_ensemble
    from .teacher.ranker import is_ranker, ranker_teacher_stage

    if is_ensemble(cfg.teacher):
        if emb is None:
            raise ExportError("the ensemble teacher needs the item embeddings (teach_stage(emb=...))")
        ckpt = ckpt or Checkpoints(None)
        return Taught(*ensemble_teacher_stage(
            split, cfg.student, emb.items, emb.profiles, ckpt.path, log, validation_users(split, cfg.student),
            blend=str(cfg.teacher).lower() == "blend", residual=str(cfg.teacher).lower() == "residual",
        ))  # fmt: skip
    if cfg.teacher and is_ranker(cfg.teacher):  # a bundle or sequential model: labels from indices
        tcfg = cfg.teacher_cfg or TeacherConfig(seed=cfg.seed)
        return Taught(*ranker_teacher_stage(
            split, cfg.teacher, tcfg, cache, log, fresh=not resume, order=cfg.split_order,
            holdout=cfg.holdout_cold_items, valid_users=validation_users(split, cfg.student),
        ))  # fmt: skip
    labels, info = teacher_stage(
        split, cfg, cfg.teacher_cfg or TeacherConfig(seed=cfg.seed), cache, log, gguf="gguf" in cfg.formats,
        runner=runner, fresh=not resume,
    )  # fmt: skip
    return Taught(labels, info)


@dataclass
class Checkpoints:
    """Where each student of an export checkpoints (``<cache>/students/<key>.pt``). The key is everything the
    training reads: the split's contents, the item and profile embeddings, the student's own settings (seed,
    distillation weight…) and, when it distils, the teacher's key; settings that do not change training (formats,
    gates, the weight grid) are not in it. An export run again with ``resume`` continues the runs it interrupted
    and loads the students it had finished (also after a failed gate); without ``resume`` an old file is dropped
    first. The files go once the bundle is written."""

    root: Path | None
    base: str = ""
    teacher: str = ""
    resume: bool = False
    used: list[Path] = field(default_factory=list)

    @classmethod
    def of(cls, cache: Path, split: Split, emb: Embedded, resume: bool) -> Checkpoints:
        """The export's checkpoints; ``teacher`` (the teacher's key) is set once the teacher stage ran."""
        h = hashlib.sha256(split.digest().encode())
        h.update(np.ascontiguousarray(emb.items).tobytes() + np.ascontiguousarray(emb.profiles).tobytes())
        return cls(cache / "students", h.hexdigest(), "None", resume)

    def path(self, member: StudentConfig) -> Path | None:
        if self.root is None:
            return None
        teacher = self.teacher if member.distill_weight > 0 else ""
        what = f"{self.base}|{teacher}|{json.dumps(asdict(member), sort_keys=True)}"
        p = self.root / f"{hashlib.sha256(what.encode()).hexdigest()[:16]}.pt"
        if not self.resume and p not in self.used:
            p.unlink(missing_ok=True)
        self.used.append(p)
        return p

    def clear(self) -> None:
        """This export's checkpoints, and the folder when they were all it held."""
        for p in self.used:
            p.unlink(missing_ok=True)
        if self.root is not None and self.root.is_dir() and not any(self.root.iterdir()):
            self.root.rmdir()


def train_stage(
    cfg: ExportConfig,
    split: Split,
    emb: Embedded,
    taught: Taught,
    log: Log,
    ckpt: Checkpoints | None = None,
    deadline: float | None = None,
) -> Trained:
    """The student, its distillation weight chosen on validation, 0 included: a student with distillation is
    trained only when the teacher beats the first-stage retriever on held-out candidates, and kept only when
    its validation NDCG@10 is higher than the student's without it. ``ckpt``: where each student checkpoints;
    ``deadline`` (``time.monotonic()``): when the automatic ensemble's students must have ended (a further
    member is not started, a student still training stops at its next validation)."""

    ckpt = ckpt or Checkpoints(None)
    quality = taught.info.get("validation_quality") or {}
    weights = [0.0]
    if taught.labels is not None and cfg.student.distill_weight > 0 and quality.get("teacher_beats_retriever"):
        grid = cfg.distill_weights or (cfg.student.distill_weight,)
        weights += sorted({w for w in grid if w > 0})
    trained: dict[float, tuple[Any, dict[str, Any]]] = {}
    member = replace(cfg.student, ensemble=1)
    if cfg.student.ensemble != 0 or taught.info.get("kind") == "ensemble":
        deadline = None  # an ensemble asked for by number, or as the teacher, is trained whole
    seconds: dict[float, float] = {}
    for w in weights:
        log(f"training the student (distillation weight {w})", 0.0)
        one = replace(member, distill_weight=w)
        trained[w] = train_student(
            split, emb.items, one, teacher=taught.labels if w > 0 else None, profiles=emb.profiles, progress=log,
            checkpoint=ckpt.path(one), deadline=deadline,
        )  # fmt: skip
        seconds[w] = float(trained[w][1].get("train_seconds", 0.0))
    valid = {w: float(info["best_valid_ndcg10"]) for w, (_, info) in trained.items()}
    residual = isinstance(taught.labels, EnsembleTeacher) and taught.labels.residual
    if residual and 0.0 in trained:
        # a residual student was early-stopped with the teacher's table: the one without distillation is
        # measured with that table too, or the choice would compare a blend with towers alone
        valid[0.0] = taught.labels.valid_ndcg(trained[0.0][0], split, member, validation_users(split, member))
    chosen = max(weights, key=lambda w: (valid[w], -w))  # ties: no distillation
    model, info = trained[chosen]
    distillation = {
        "candidates": weights,
        "valid_ndcg10": {str(w): round(v, 5) for w, v in valid.items()},
        "chosen_weight": chosen,
        "reason": (
            "no teacher" if taught.labels is None
            else "no distillation weight above 0 asked for"
            if not any(w > 0 for w in (cfg.distill_weights or (cfg.student.distill_weight,)))
            else quality.get("reason_if_worse")
            or "the teacher did not beat the first-stage retriever on held-out validation candidates"
            if len(weights) == 1
            else "highest validation NDCG@10"
        ),
    }  # fmt: skip
    if residual:
        distillation["measure"] = "validation NDCG@10 with the teacher's table at its half-life, the best weight"
    shipped = member
    if taught.info.get("kind") == "ensemble":  # its members are the ensemble, trained and measured already
        model, info["ensemble"] = _teacher_or_student(taught, model, valid[chosen], log)
        return Trained(
            model,
            info,
            distillation,
            replace(member, ensemble=taught.info["members"]) if info["ensemble"]["used"] else member,
        )
    k = cfg.student.members(int(sum(len(t) for t in split.train)))
    if k > 1:
        budget = _Budget(deadline, cfg.time_budget_s, [seconds[chosen]])
        model, info["ensemble"] = _ensemble(
            k, split, emb, taught, replace(member, distill_weight=chosen), model, log, ckpt, budget
        )
        if info["ensemble"]["used"]:
            shipped = replace(member, ensemble=info["ensemble"]["members"])
    return Trained(model, info, distillation, shipped)


def _teacher_or_student(taught: Taught, student: Any, student_valid: float, log: Log) -> tuple[Any, dict[str, Any]]:
    """``--teacher ensemble``: the student chosen on validation ships alone, unless the teacher ensemble itself
    scored higher there — then the ensemble ships (nothing is lost for asking for one student), and says why."""
    teacher = taught.labels
    # a residual student's figure includes the table: the ensemble is then measured with its own blend
    info = taught.info
    joint = float(info["validation_quality"]["teacher_ndcg10"] if teacher.residual else info["valid_ndcg10"])
    report: dict[str, Any] = {
        "members": len(teacher.members),
        "valid_ndcg10": round(joint, 5),
        "valid_ndcg10_student": round(student_valid, 5),
        "used": joint > student_valid,
    }
    if not report["used"]:
        return student, report
    log(f"the teacher ensemble ({joint:.4f}) beats the student ({student_valid:.4f}) on validation: shipping it", 1.0)
    report["why"] = "the teacher ensemble scored higher on validation than the student chosen beside it"
    return build_ensemble(require("torch"), teacher.members).eval(), report


@dataclass
class _Budget:
    """Whether one more ensemble member fits: the time now plus the longest member's training so far ends by
    ``deadline`` (``time.monotonic()``; None: always)."""

    deadline: float | None
    budget_s: float | None
    member_seconds: list[float]
    clock: Callable[[], float] = time.monotonic

    def fits(self) -> bool:
        return self.deadline is None or self.clock() + max(self.member_seconds) <= self.deadline

    def report(self, trained: int, asked: int) -> dict[str, Any]:
        return {
            "budget_s": self.budget_s,
            "reserve": BUDGET_RESERVE,
            "member_seconds": [round(s, 1) for s in self.member_seconds],
            "members_asked": asked,
            "members_trained": trained,
        }


def _ensemble(
    n: int,
    split: Split,
    emb: Embedded,
    taught: Taught,
    member: StudentConfig,
    first: Any,
    log: Log,
    ckpt: Checkpoints,
    budget: _Budget,
) -> tuple[Any, dict[str, Any]]:
    """Up to ``n`` students (seeds seed, seed+1, …; ``first`` already trained) as one model, kept only when its
    validation NDCG@10 is above the first student's alone (the ablation, recorded). A further member is trained
    only while ``budget`` says it fits; the report then says how many were asked for and trained."""
    torch = require("torch")
    members = [first]
    for k in range(1, n):
        one = replace(member, seed=member.seed + k)
        path = ckpt.path(one)
        if not checkpoint_finished(path) and not budget.fits():  # a finished one loads at no cost
            log(
                f"time budget: a further student (~{max(budget.member_seconds):.0f} s) would not end within "
                f"{1 - BUDGET_RESERVE:.0%} of the {budget.budget_s or 0:.0f} s budget; keeping {k} of {n} "
                f"(--ensemble {n} or --time-budget 0 trains all)",
                1.0,
            )
            break
        log(f"training ensemble member {k + 1} of {n}", 0.0)
        model, info = train_student(
            split, emb.items, one, teacher=taught.labels if member.distill_weight > 0 else None,
            profiles=emb.profiles, progress=log, checkpoint=path, deadline=budget.deadline,
        )  # fmt: skip
        members.append(model)
        budget.member_seconds.append(float(info.get("train_seconds", 0.0)))
    cut = {"time_budget": budget.report(len(members), n)} if len(members) < n else {}
    if len(members) == 1:
        return first, {"members": 1, "used": False, **cut}
    m = len(members)
    ensemble = build_ensemble(torch, members).eval()
    vusers = validation_users(split, member)
    single = student_ndcg(first, split, emb.items, member, stage="valid", users=vusers)
    joint = student_ndcg(ensemble, split, emb.items, replace(member, ensemble=m), stage="valid", users=vusers)
    report = {
        "members": m,
        "valid_ndcg10_first": round(single, 5),
        "valid_ndcg10": round(joint, 5),
        "member_seconds": [round(x, 1) for x in budget.member_seconds],  # training time of each, as measured
        **cut,
    }
    log(f"ensemble of {m}: validation NDCG@10 {joint:.4f} (first student alone {single:.4f})", 1.0)
    return (ensemble, {**report, "used": True}) if joint > single else (first, {**report, "used": False})


def tower_stage(cfg: ExportConfig, split: Split, emb: Embedded, model: Any, work: Path) -> Towers:
    """The user tower exported to ONNX (fp32) and quantized (int8), the item tower's arrays, and the runtime
    encoders over those bytes (what the bundle will load)."""
    quant = require("onnxruntime.quantization")
    fp32 = work / "user_tower.fp32.onnx"
    int8 = work / "user_tower.int8.onnx"
    export_user_tower(model, cfg.student, fp32)
    quant.quantize_dynamic(str(fp32), str(int8), per_channel=True, weight_type=quant.QuantType.QInt8)
    buf = io.BytesIO()
    np.savez(buf, **export_arrays(model))  # type: ignore[arg-type]  # numpy's stub types **kwds too narrowly
    arrays_bytes = buf.getvalue()
    ids_bytes = json.dumps(split.item_ids).encode()
    spec = TwoTowerSpec(
        user_tower={"fp32": "user_tower.fp32.onnx", "int8": "user_tower.int8.onnx"},
        item_tower="item_tower.npz",
        item_ids="item_ids.json",
        max_len=cfg.student.max_len,
        dim=cfg.student.tower_dim,
        default_precision="int8",
        item_modalities=emb.modalities or None,
    )
    files: dict[str, bytes | Path] = {
        "model.onnx": emb.base.file("model.onnx"),
        "tokenizer.json": emb.base.file("tokenizer.json"),
        "user_tower.fp32.onnx": fp32.read_bytes(),
        "user_tower.int8.onnx": int8.read_bytes(),
        "item_tower.npz": arrays_bytes,
        "item_ids.json": ids_bytes,
        "LICENSE": emb.base.file("LICENSE"),
    }
    encoders = {
        p: TwoTowerEncoder(
            spec,
            emb.encoder,
            user_tower=files[spec.user_tower[p]],  # type: ignore[arg-type]
            item_tower=arrays_bytes,
            item_ids=ids_bytes,
            precision=p,
        )  # fmt: skip
        for p in ("fp32", "int8")
    }
    item_vecs = np.concatenate(
        [
            encoders["fp32"].item_vectors(
                split.item_ids[i : i + 64],
                split.item_text[i : i + 64],
                vectors=None if emb.vectors is None else emb.vectors[i : i + 64],
            )  # fmt: skip
            for i in range(0, split.n_items, 64)
        ]
    )
    return Towers(spec, files, encoders, item_vecs)


def int8_figures(
    ndcg_fp32: np.ndarray, top_fp32: np.ndarray, ndcg_int8: np.ndarray, top_int8: np.ndarray
) -> dict[str, float]:
    """What the int8 gates read, from per-user validation NDCG@10 and top-10 lists of both precisions: the
    difference of means (reported), its one-sided 95 % upper bound paired per user (gated: a few users of a small
    validation set moving never fail an export, a loss shared by many users does) and the share of the fp32 top
    10 that int8 keeps (gated: noise in the held-out items does not move it, a real quantisation loss does)."""
    return {
        "int8_minus_fp32_ndcg10": round(float(ndcg_int8.mean() - ndcg_fp32.mean()), 5),
        "int8_minus_fp32_ndcg10_upper95": round(paired_upper_bound(ndcg_int8, ndcg_fp32), 5),
        "int8_top10_agreement": round(top_k_agreement(top_int8, top_fp32), 4),
    }


def validate_stage(
    cfg: ExportConfig, data: Data, emb: Embedded, model: Any, towers: Towers, vusers: np.ndarray | None
) -> ValidationReport:
    """ONNX vs torch on validation histories, fp32 vs int8 validation NDCG@10 (the users early stopping scored),
    the cold items' figures: one :func:`validate` report with its gates."""
    torch = require("torch")
    split, student = data.split, cfg.student
    rng = np.random.default_rng(cfg.seed)
    sample = rng.choice(split.n_users, min(64, split.n_users), replace=False)
    hists = [split.history(int(u), "valid")[-student.max_len :] for u in sample]
    width = max(len(h) for h in hists)
    batch = np.zeros((len(sample), width, student.tower_dim), dtype=np.float32)
    for r, h in enumerate(hists):
        batch[r, width - len(h) :] = towers.item_vecs[h]
    prof = np.zeros((len(sample), student.tower_dim), dtype=np.float32)
    with torch.no_grad():
        ref = model.user(torch.as_tensor(batch), torch.as_tensor(prof))[:, -1].numpy()
    onnx_vs_torch = compare_outputs(ref, towers.encoders["fp32"].user_vectors(batch, prof))
    per_user = {p: _encoder_ndcg(e, split, "valid", towers.item_vecs, vusers) for p, e in towers.encoders.items()}
    ndcg = {p: float(v[0].mean()) for p, v in per_user.items()}
    default = towers.encoders[towers.spec.default_precision]
    return validate(
        {
            "max_abs_onnx_fp32_vs_torch": onnx_vs_torch["max_abs"],
            "valid_ndcg10_torch": round(student_ndcg(model, split, emb.items, student, stage="valid", users=vusers), 5),
            "valid_users": split.n_users if vusers is None else len(vusers),
            "valid_ndcg10_onnx_fp32": round(ndcg["fp32"], 5),
            "valid_ndcg10_onnx_int8": round(ndcg["int8"], 5),
            **int8_figures(*per_user["fp32"], *per_user["int8"]),
            **_cold_item_validation(default, split, data.cold, towers.item_vecs, emb.vectors),
        },
        [
            Gate("max_abs_onnx_fp32_vs_torch", "<=", cfg.max_abs_onnx_vs_torch, "ONNX vs torch max |diff|", ".2e"),
            Gate(
                "int8_minus_fp32_ndcg10_upper95",
                ">=",
                -cfg.max_ndcg_drop_int8,
                "int8 − fp32 validation NDCG@10 (upper 95 % bound, paired per user)",
            ),
            Gate("int8_top10_agreement", ">=", cfg.min_top10_agreement_int8, "int8 vs fp32 top-10 agreement"),
        ],
        recorded={
            "max_abs_onnx_vs_torch": cfg.max_abs_onnx_vs_torch,
            "max_ndcg_drop_int8": cfg.max_ndcg_drop_int8,
            "min_top10_agreement_int8": cfg.min_top10_agreement_int8,
        },  # fmt: skip
    )


def item_item_tables_stage(split: Split, log: Log) -> dict[str, Neighbours]:
    """The candidate neighbour tables (``item_item.candidate_tables``: co-occurrence and EASE). They depend on the
    training data alone, so they are built before the students: the time budget then knows what they cost (EASE's
    inverses are the slowest step after training on a large catalogue: 3 × ~50 s on Amazon Sports' 18,227 items)."""
    log("item-item neighbours", 0.0)
    return candidate_tables(split, log)


def blend_stage(
    split: Split, towers: Towers, tables: dict[str, Neighbours], vusers: np.ndarray | None, log: Log
) -> dict[str, Any]:
    """The candidate ``tables`` (:func:`item_item_tables_stage`; then with what follows each item added) blended
    in with the table, recency half-life and weight chosen on validation (``item_item.choose_blend``); shipped
    (``towers`` updated) only when that weight is above 0. Returns the report."""
    default = towers.encoders[towers.spec.default_precision]
    table, half_life, weight, report = choose_blend(
        lambda hs: default.history_vectors(towers.item_vecs, hs), towers.item_vecs, split, tables, vusers, log
    )
    report["used"] = weight > 0
    if table is not None and weight > 0:
        towers.files["item_item.npz"] = table_bytes(table)
        towers.spec = replace(
            towers.spec, item_item="item_item.npz", item_item_weight=weight, item_item_half_life=half_life
        )
    return report


def _bytes(f: bytes | Path) -> bytes:
    return f if isinstance(f, bytes) else Path(f).read_bytes()


def cold_weight_stage(split: Split, towers: Towers, seed: int, log: Log, users: int = 1000) -> dict[str, Any]:
    """:func:`choose_cold_start` for the exported student, as the runtime runs it (with its item-item blend);
    ``towers.spec`` takes the settings; returns the report."""
    spec, precision = towers.spec, towers.spec.default_precision
    encoder = towers.encoders[precision]
    if spec.item_item:  # the runtime adds the item-item blend to a profile's titles: so does the choice
        encoder = TwoTowerEncoder(
            spec, encoder.text, user_tower=_bytes(towers.files[spec.user_tower[precision]]),
            item_tower=_bytes(towers.files[spec.item_tower]), item_ids=_bytes(towers.files[spec.item_ids]),
            precision=precision, item_item=_bytes(towers.files[spec.item_item]),
        )  # fmt: skip
    chosen = choose_cold_start(split, encoder, towers.item_vecs, seed, log, users)
    towers.spec = replace(towers.spec, **chosen.settings)
    if chosen.model is not None:
        towers.files["profile_model.npz"] = chosen.model.to_bytes()
        towers.spec = replace(towers.spec, profile_model="profile_model.npz")
    return chosen.report


def manifest_of(
    cfg: ExportConfig,
    data: Data,
    emb: Embedded,
    trained: Trained,
    taught: Taught,
    towers: Towers,
    report: ValidationReport,
    extra: dict[str, Any],
    stages: _Stages,
) -> Manifest:
    """The bundle's manifest (``extra``: item_item report and llm_ranker)."""
    import onnx

    onnxruntime = require("onnxruntime")
    torch = require("torch")
    dim = cfg.student.tower_dim
    return Manifest(
        name=f"student-{cfg.dataset}",
        kind="two-tower",
        odrec_version=__version__,
        description="Two-tower student: MiniLM text + id item tower, transformer user tower (ONNX)",
        base_model={**emb.base.manifest.base_model, "student": "trained by odrec export"},
        text_encoder=emb.base.manifest.encoder,
        two_tower=towers.spec,
        signature={
            "user_tower": {
                "inputs": [
                    {"name": "history", "dtype": "float32", "shape": ["batch", "length", dim]},
                    {"name": "profile", "dtype": "float32", "shape": ["batch", dim]},
                ],
                "outputs": [{"name": "user", "dtype": "float32", "shape": ["batch", dim]}],
            }
        },
        dataset=DatasetInfo(
            cfg.dataset,
            data.split.n_users,
            data.split.n_items,
            cfg.holdout_cold_items,
            split_order=cfg.split_order,
            interactions=data.interactions,
        ),  # fmt: skip
        validation=report.to_dict(),
        training={
            **trained.info,
            "distillation": trained.distillation,
            "item_item": extra["item_item"],
            "cold_start": extra.get("cold_start"),
            "item_vectors": emb.vectors_report,
        },  # fmt: skip
        teacher={k: v for k, v in taught.info.items() if k != "gguf"},
        llm_ranker=extra["llm_ranker"],
        recipe={"config": json.loads(json.dumps(asdict(cfg), default=str))},
        config_sha256=cfg.digest(),
        stage_seconds={k: round(v, 2) for k, v in stages.items()},
        peak_rss_mb=dict(stages.peak_mb),
        versions={"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "torch": torch.__version__},
    )


def _run_export(
    cfg: ExportConfig,
    out: str | os.PathLike[str],
    *,
    overwrite: bool,
    log: Log,
    cache_dir: str | os.PathLike[str] | None,
    resume: bool,
    runner: RayRunner | None,
) -> Manifest:
    torch = require("torch")
    require("onnx")
    require("onnxruntime.quantization")
    check_request(cfg, out, overwrite)
    torch.set_num_threads(default_threads())
    stages = _Stages()
    data = stages.run("data", lambda: data_stage(cfg, log))
    emb = stages.run("text_embeddings", lambda: embed_stage(data.split, runner, log, cfg.item_vectors))
    taught = Taught()
    cache = Path(cache_dir) if cache_dir is not None else Path(str(Path(out).resolve()) + ".cache")
    if resume and not (cache.is_dir() and any(cache.iterdir())):
        log(f"nothing to resume in {cache}: the export starts afresh", 0.0)
    ckpt = Checkpoints.of(cache, data.split, emb, resume)
    if cfg.use_teacher and cfg.student.distill_weight > 0:
        taught = stages.run("teacher", lambda: teach_stage(cfg, data.split, cache, resume, runner, log, emb, ckpt))
    ckpt.teacher = str(taught.info.get("teacher_key"))
    tables = stages.run("item_item_tables", lambda: item_item_tables_stage(data.split, log)) if cfg.item_item else {}
    deadline = stages.deadline(cfg.time_budget_s)
    trained = stages.run("student_training", lambda: train_stage(cfg, data.split, emb, taught, log, ckpt, deadline))
    if trained.shipped is not None:  # the towers, validation and manifest describe the student as shipped
        cfg = replace(cfg, student=replace(trained.shipped, distill_weight=cfg.student.distill_weight))
    work = Path(tempfile.mkdtemp(prefix="odrec-export-"))
    try:
        towers = stages.run("onnx_export", lambda: tower_stage(cfg, data.split, emb, trained.model, work))
        log("validating", 0.0)
        vusers = validation_users(data.split, cfg.student)  # the users early stopping scored
        report = stages.run("validation", lambda: validate_stage(cfg, data, emb, trained.model, towers, vusers))
        report.require()
        extra: dict[str, Any] = {"item_item": {"used": False}, "llm_ranker": None}
        if cfg.item_item:
            extra["item_item"] = stages.run("item_item", lambda: blend_stage(data.split, towers, tables, vusers, log))
        extra["cold_start"] = stages.run("cold_start", lambda: cold_weight_stage(data.split, towers, cfg.seed, log))
        if "gguf" in cfg.formats:
            extra["llm_ranker"] = gguf_stage(cfg, data.split, taught, towers, work, stages, log)
        manifest = manifest_of(cfg, data, emb, trained, taught, towers, report, extra, stages)
        written = write_bundle(out, manifest, towers.files, overwrite=overwrite)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # an export that failed (a gate, a kill) keeps its students for --resume; a written bundle needs them no more
    ckpt.clear()
    if cache_dir is None and cache.is_dir() and not any(cache.iterdir()):
        cache.rmdir()  # the default cache held only this export's checkpoints
    return written


def gguf_stage(
    cfg: ExportConfig, split: Split, taught: Taught, towers: Towers, work: Path, stages: _Stages, log: Log
) -> LlmRankerSpec:
    """The fine-tuned teacher as GGUF (stage "gguf_export") and its re-rank fusion weight chosen on validation
    (stage "rerank_fusion")."""
    ranker = stages.run("gguf_export", lambda: _export_gguf(taught.info, work, log))
    towers.files[ranker.file] = work / ranker.file
    weight, fusion = stages.run(
        "rerank_fusion",
        lambda: choose_fusion_weight(
            work / ranker.file, towers.encoders["int8"], towers.item_vecs, split, cfg.fusion_users, cfg.seed, log
        ),
    )
    return replace(ranker, fusion_weight=weight, fusion_report=fusion)


FUSION_GRID: tuple[float | None, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, None)


def choose_fusion_weight(
    gguf: Path,
    encoder: TwoTowerEncoder,
    item_vecs: np.ndarray,
    split: Split,
    users: int,
    seed: int,
    log: Log,
    top: int = 20,
) -> tuple[float, dict[str, Any]]:
    """The weight of the LLM in the fused re-rank of the student's top ``top``, chosen on validation: mean
    NDCG@10 of the validation item for every weight of :data:`FUSION_GRID` (None = LLM order alone) over a
    sample of users; 0 (re-ranking off) wins ties and is kept unless a weight beats it."""
    from ..backends.llama import LlamaRanker
    from ..ranking.rerank import fuse, llm_scores

    rng = np.random.default_rng(seed + 3)
    sample = np.sort(rng.choice(split.n_users, min(users, split.n_users), replace=False))
    hists = [split.history(int(u), "valid") for u in sample]
    scores = encoder.score_histories(item_vecs, hists)
    ndcg: dict[str, list[float]] = {str(w): [] for w in FUSION_GRID}
    llm = LlamaRanker(str(gguf))
    try:
        for n, (u, h) in enumerate(zip(sample, hists)):
            s = scores[n].copy()
            s[h] = -np.inf
            cand = np.argsort(-s, kind="stable")[:top]
            target = int(split.valid[u])
            if target not in cand:
                for w in FUSION_GRID:
                    ndcg[str(w)].append(0.0)
                continue
            margins = llm_scores(llm, [split.item_title[i] for i in h], [split.item_title[i] for i in cand])
            pos = int(np.flatnonzero(cand == target)[0])
            for w in FUSION_GRID:
                ndcg[str(w)].append(ndcg_of(fuse(s[cand], margins, w), pos))
            log("choosing the LLM re-rank weight on validation", (n + 1) / len(sample))
    finally:
        llm.close()
    means = {w: round(float(np.mean(v)), 5) for w, v in ndcg.items()}
    best = max((w for w in FUSION_GRID if w is not None), key=lambda w: (means[str(w)], -w))
    report = {"users": len(sample), "top": top, "valid_ndcg10": means, "llm_alone": means["None"]}
    return float(best), report


def _export_gguf(teacher_info: dict[str, Any], work: Path, log: Log) -> LlmRankerSpec:
    """The fine-tuned teacher as a validated Q8_0 GGUF (written by the teacher stage, which labels with it)."""
    log("packing GGUF", 0.0)
    cached = teacher_info.get("gguf")
    if not cached or not Path(cached["path"]).is_file():
        raise ExportError("--formats gguf needs a GGUF teacher and the gguf extra (pip install 'ondevice-rec[gguf]')")
    shutil.copyfile(cached["path"], work / "llm_ranker.q8_0.gguf")
    return LlmRankerSpec(file="llm_ranker.q8_0.gguf", type="Q8_0", validation=cached["validation"])
