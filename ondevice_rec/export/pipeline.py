"""``odrec export``: data → (teacher labels) → student → ONNX fp32/int8 → validation → bundle.

Every stage reports progress; a failed validation fails the export and leaves no bundle behind (the bundle is
written to a temporary directory and renamed only at the end).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..backends import default_threads
from ..backends.onnx_text import OnnxTextEncoder
from ..backends.two_tower import TwoTowerEncoder
from ..bundle import (
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
from ..eval.metrics import ndcg_of
from ..eval.protocols import full_protocol_ndcg
from ._deps import require
from .distributed import RayConfig, RayRunner, embed_local, embed_on_ray
from .item_item import build_neighbours, choose_weight, table_bytes
from .student import StudentConfig, export_arrays, student_ndcg, train_student, validation_users
from .validate import Gate, compare_outputs, validate

Log = Callable[[str, float], None]


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
    fusion_users: int = 300  # validation users the LLM re-rank weight is chosen on
    # ship item-kNN's co-occurrence neighbours and blend them in with a weight chosen on validation (0: dropped)
    item_item: bool = True
    # validation gates
    max_abs_onnx_vs_torch: float = 1e-4
    max_ndcg_drop_int8: float = 0.003

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
    h = torch.randn(2, 7, cfg.dim)
    p = torch.randn(2, cfg.dim)
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
    """Seconds per stage; setting one also records the process's peak resident memory (MB) at its end."""

    def __init__(self) -> None:
        super().__init__()
        self.peak_mb: dict[str, float] = {}

    def __setitem__(self, stage: str, seconds: float) -> None:
        super().__setitem__(stage, seconds)
        self.peak_mb[stage] = peak_rss_mb()


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (0 where the platform does not report it)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kb / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)  # macOS reports bytes


def _cold_item_validation(
    encoder: TwoTowerEncoder, split: Split, cold: np.ndarray | None, item_vecs: np.ndarray
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
        vecs[part] = encoder.item_vectors(ids, texts, unknown=[True] * len(part))
    users = np.flatnonzero(cold[split.valid])
    everyone = _encoder_ndcg(encoder, split, "valid", vecs)
    return {
        "valid_ndcg10_cold_items": round(float(everyone[users].mean()), 5) if len(users) else None,
        "valid_cold_item_users": int(len(users)),
        "valid_ndcg10_with_cold_items": round(float(everyone.mean()), 5),
    }


def _encoder_ndcg(
    encoder: TwoTowerEncoder, split: Split, stage: str, item_vecs: np.ndarray, users: np.ndarray | None = None
) -> np.ndarray:
    """Per-user NDCG@10 (full protocol) of a runtime two-tower encoder, scored exactly as ``odrec eval`` does."""
    score = lambda us, hists: encoder.score_histories(item_vecs, hists)  # noqa: E731
    return full_protocol_ndcg(split, stage, score, users=users, batch=128)


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
    quant = require("onnxruntime.quantization")
    unknown = set(cfg.formats) - {"onnx", "gguf"}
    if unknown:
        raise ExportError(f"unknown export format(s) {sorted(unknown)} (choose from onnx, gguf)")
    if Path(out).exists() and not overwrite:
        raise ExportError(f"output {out} already exists (pass --overwrite)")
    torch.set_num_threads(default_threads())
    stages = _Stages()
    t = time.perf_counter()

    log("loading data and splitting", 0.0)
    split, cold = _split(cfg)
    stages["data"] = time.perf_counter() - t
    n_interactions = int(sum(len(s) for s in split.train))
    log(f"{split.n_users} users, {split.n_items} items, {n_interactions} training interactions", 1.0)

    t = time.perf_counter()
    base = load_bundle(default_bundle_path())
    te = base.manifest.encoder
    encoder = OnnxTextEncoder(te, base.file(te.model), base.file(te.tokenizer), what="default text encoder")
    profile_texts = [profile_from_history(split, split.train[u]) for u in range(split.n_users)]
    if runner is None:
        # one-thread encoders, as every Ray worker embeds: the vectors are then bitwise the same with and without
        # --ray (onnxruntime's reductions depend on the thread count), and so is everything trained on them; one
        # process per training thread, each embedding whole batches of a contiguous chunk
        text_emb = embed_local(split.item_text, default_threads())
        profile_emb = embed_local(profile_texts, default_threads())
    else:
        text_emb = embed_on_ray(runner, split.item_text, log)
        profile_emb = embed_on_ray(runner, profile_texts, log)
    stages["text_embeddings"] = time.perf_counter() - t
    log(f"embedded {split.n_items} items", 1.0)

    labels = None
    teacher_info: dict[str, Any] = {"used": False}
    if cfg.use_teacher and cfg.student.distill_weight > 0:
        from .teacher import TeacherConfig, teacher_stage

        t = time.perf_counter()
        cdir = Path(cache_dir) if cache_dir is not None else Path(str(Path(out).resolve()) + ".cache")
        if cdir.exists() and not resume:
            shutil.rmtree(cdir)
        labels, teacher_info = teacher_stage(
            split,
            cfg,
            cfg.teacher_cfg or TeacherConfig(seed=cfg.seed),
            cdir,
            log,
            gguf="gguf" in cfg.formats,
            runner=runner,
        )
        stages["teacher"] = time.perf_counter() - t
    elif "gguf" in cfg.formats:
        raise ExportError(
            "--formats gguf exports the fine-tuned teacher: it needs the teacher stage "
            "(do not pass --no-teacher or --distill-weight 0)"
        )

    t = time.perf_counter()
    # the distillation weight is chosen on validation, 0 included: a student with distillation is trained only
    # when the teacher beats the first-stage retriever on held-out candidates, and kept only when its validation
    # NDCG@10 is higher than the student's without it
    quality = teacher_info.get("validation_quality") or {}
    weights = [0.0]
    if labels is not None and cfg.student.distill_weight > 0 and quality.get("teacher_beats_retriever"):
        weights.append(cfg.student.distill_weight)
    trained: dict[float, tuple[Any, dict[str, Any]]] = {}
    for w in weights:
        log(f"training the student (distillation weight {w})", 0.0)
        trained[w] = train_student(
            split, text_emb, replace(cfg.student, distill_weight=w), teacher=labels if w > 0 else None,
            profiles=profile_emb, progress=log,
        )  # fmt: skip
    valid = {w: float(info["best_valid_ndcg10"]) for w, (_, info) in trained.items()}
    chosen = max(weights, key=lambda w: (valid[w], -w))  # ties: no distillation
    model, train_info = trained[chosen]
    distillation = {
        "candidates": weights,
        "valid_ndcg10": {str(w): round(v, 5) for w, v in valid.items()},
        "chosen_weight": chosen,
        "reason": (
            "no teacher" if labels is None
            else "the teacher did not beat the first-stage retriever on held-out validation candidates"
            if len(weights) == 1
            else "highest validation NDCG@10"
        ),
    }  # fmt: skip
    stages["student_training"] = time.perf_counter() - t

    work = Path(tempfile.mkdtemp(prefix="odrec-export-"))
    try:
        t = time.perf_counter()
        fp32 = work / "user_tower.fp32.onnx"
        int8 = work / "user_tower.int8.onnx"
        export_user_tower(model, cfg.student, fp32)
        quant.quantize_dynamic(str(fp32), str(int8), per_channel=True, weight_type=quant.QuantType.QInt8)
        arrays = export_arrays(model)
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds too narrowly
        arrays_bytes = buf.getvalue()
        ids_bytes = json.dumps(split.item_ids).encode()
        stages["onnx_export"] = time.perf_counter() - t

        # --- validation ------------------------------------------------------------------------------
        t = time.perf_counter()
        log("validating", 0.0)
        spec = TwoTowerSpec(
            user_tower={"fp32": "user_tower.fp32.onnx", "int8": "user_tower.int8.onnx"},
            item_tower="item_tower.npz",
            item_ids="item_ids.json",
            max_len=cfg.student.max_len,
            dim=cfg.student.dim,
            default_precision="int8",
        )
        files: dict[str, bytes | Path] = {
            "model.onnx": base.file("model.onnx"),
            "tokenizer.json": base.file("tokenizer.json"),
            "user_tower.fp32.onnx": fp32.read_bytes(),
            "user_tower.int8.onnx": int8.read_bytes(),
            "item_tower.npz": arrays_bytes,
            "item_ids.json": ids_bytes,
            "LICENSE": base.file("LICENSE"),
        }
        encoders = {
            p: TwoTowerEncoder(
                spec,
                encoder,
                user_tower=files[spec.user_tower[p]],  # type: ignore[arg-type]
                item_tower=arrays_bytes,
                item_ids=ids_bytes,
                precision=p,
            )
            for p in ("fp32", "int8")
        }
        item_vecs = np.concatenate(
            [
                encoders["fp32"].item_vectors(split.item_ids[i : i + 64], split.item_text[i : i + 64])
                for i in range(0, split.n_items, 64)
            ]
        )
        # ONNX vs torch on validation histories
        rng = np.random.default_rng(cfg.seed)
        sample = rng.choice(split.n_users, min(64, split.n_users), replace=False)
        hists = [split.history(int(u), "valid")[-cfg.student.max_len :] for u in sample]
        width = max(len(h) for h in hists)
        batch = np.zeros((len(sample), width, cfg.student.dim), dtype=np.float32)
        for r, h in enumerate(hists):
            batch[r, width - len(h) :] = item_vecs[h]
        prof = np.zeros((len(sample), cfg.student.dim), dtype=np.float32)
        with torch.no_grad():
            ref = model.user(torch.as_tensor(batch), torch.as_tensor(prof))[:, -1].numpy()
        onnx_vs_torch = compare_outputs(ref, encoders["fp32"].user_vectors(batch, prof))
        # the users early stopping scored (all of them up to StudentConfig.valid_users)
        vusers = validation_users(split, cfg.student)
        ndcg = {p: float(_encoder_ndcg(e, split, "valid", item_vecs, vusers).mean()) for p, e in encoders.items()}
        report = validate(
            {
                "max_abs_onnx_fp32_vs_torch": onnx_vs_torch["max_abs"],
                "valid_ndcg10_torch": round(
                    student_ndcg(model, split, text_emb, cfg.student, stage="valid", users=vusers), 5
                ),
                "valid_users": split.n_users if vusers is None else len(vusers),
                "valid_ndcg10_onnx_fp32": round(ndcg["fp32"], 5),
                "valid_ndcg10_onnx_int8": round(ndcg["int8"], 5),
                "int8_minus_fp32_ndcg10": round(ndcg["int8"] - ndcg["fp32"], 5),
                **_cold_item_validation(encoders[spec.default_precision], split, cold, item_vecs),
            },
            [
                Gate("max_abs_onnx_fp32_vs_torch", "<=", cfg.max_abs_onnx_vs_torch, "ONNX vs torch max |diff|", ".2e"),
                Gate("int8_minus_fp32_ndcg10", ">=", -cfg.max_ndcg_drop_int8, "int8 − fp32 validation NDCG@10"),
            ],
            recorded={"max_abs_onnx_vs_torch": cfg.max_abs_onnx_vs_torch, "max_ndcg_drop_int8": cfg.max_ndcg_drop_int8},
        )
        stages["validation"] = time.perf_counter() - t
        report.require()

        t = time.perf_counter()
        item_item_report: dict[str, Any] = {"used": False}
        if cfg.item_item:
            log("item-item neighbours", 0.0)
            nb = build_neighbours(split)
            weight, item_item_report = choose_weight(
                lambda hs: encoders[spec.default_precision].history_vectors(item_vecs, hs),
                item_vecs, split, nb, vusers, log,
            )  # fmt: skip
            item_item_report["used"] = weight > 0
            if weight > 0:
                files["item_item.npz"] = table_bytes(nb)
                spec = replace(spec, item_item="item_item.npz", item_item_weight=weight)
            stages["item_item"] = time.perf_counter() - t

        llm_ranker = None
        if "gguf" in cfg.formats:
            t = time.perf_counter()
            llm_ranker = _export_gguf(teacher_info, work, log)
            files[llm_ranker.file] = work / llm_ranker.file
            stages["gguf_export"] = time.perf_counter() - t
            t = time.perf_counter()
            weight, fusion = choose_fusion_weight(
                work / llm_ranker.file, encoders["int8"], item_vecs, split, cfg.fusion_users, cfg.seed, log
            )
            llm_ranker = replace(llm_ranker, fusion_weight=weight, fusion_report=fusion)
            stages["rerank_fusion"] = time.perf_counter() - t

        import onnx

        onnxruntime = require("onnxruntime")

        manifest = Manifest(
            name=f"student-{cfg.dataset}",
            kind="two-tower",
            odrec_version=__version__,
            description="Two-tower student: MiniLM text + id item tower, transformer user tower (ONNX)",
            base_model={**base.manifest.base_model, "student": "trained by odrec export"},
            text_encoder=te,
            two_tower=spec,
            signature={
                "user_tower": {
                    "inputs": [
                        {"name": "history", "dtype": "float32", "shape": ["batch", "length", cfg.student.dim]},
                        {"name": "profile", "dtype": "float32", "shape": ["batch", cfg.student.dim]},
                    ],
                    "outputs": [{"name": "user", "dtype": "float32", "shape": ["batch", cfg.student.dim]}],
                }
            },
            dataset=DatasetInfo(
                cfg.dataset,
                split.n_users,
                split.n_items,
                cfg.holdout_cold_items,
                split_order=cfg.split_order,
                interactions=n_interactions,
            ),
            validation=report.to_dict(),
            training={**train_info, "distillation": distillation, "item_item": item_item_report},
            teacher={k: v for k, v in teacher_info.items() if k != "gguf"},
            llm_ranker=llm_ranker,
            recipe={"config": json.loads(json.dumps(asdict(cfg), default=str))},
            config_sha256=cfg.digest(),
            stage_seconds={k: round(v, 2) for k, v in stages.items()},
            peak_rss_mb=dict(stages.peak_mb),
            versions={"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "torch": torch.__version__},
        )
        return write_bundle(out, manifest, files, overwrite=overwrite)
    finally:
        shutil.rmtree(work, ignore_errors=True)


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
