"""Write a fine-tuned llama-architecture teacher to GGUF (``gguf`` package), carrying the tokenizer metadata
over from the source GGUF, then quantize it with llama.cpp's quantizer (Q8_0 by default)."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExportError, missing_extra
from ._deps import require
from .validate import Gate, validate

_COPY_PREFIXES = ("tokenizer.", "general.")
_SKIP = {"general.architecture", "general.file_type", "general.quantization_version"}


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF → GGUF rotary layout of q/k projections (the inverse of what transformers undoes on load)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def tensor_map(model: Any) -> list[tuple[str, np.ndarray]]:
    cfg = model.config
    n_head, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    out = [("token_embd.weight", sd["model.embed_tokens.weight"])]
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        out += [
            (f"blk.{i}.attn_norm.weight", sd[p + "input_layernorm.weight"]),
            (f"blk.{i}.attn_q.weight", _permute(sd[p + "self_attn.q_proj.weight"], n_head)),
            (f"blk.{i}.attn_k.weight", _permute(sd[p + "self_attn.k_proj.weight"], n_kv)),
            (f"blk.{i}.attn_v.weight", sd[p + "self_attn.v_proj.weight"]),
            (f"blk.{i}.attn_output.weight", sd[p + "self_attn.o_proj.weight"]),
            (f"blk.{i}.ffn_norm.weight", sd[p + "post_attention_layernorm.weight"]),
            (f"blk.{i}.ffn_gate.weight", sd[p + "mlp.gate_proj.weight"]),
            (f"blk.{i}.ffn_up.weight", sd[p + "mlp.up_proj.weight"]),
            (f"blk.{i}.ffn_down.weight", sd[p + "mlp.down_proj.weight"]),
        ]
    out.append(("output_norm.weight", sd["model.norm.weight"]))
    if not getattr(cfg, "tie_word_embeddings", False) and "lm_head.weight" in sd:
        out.append(("output.weight", sd["lm_head.weight"]))
    return out


def write_gguf(model: Any, metadata_source: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Write ``model`` (a transformers Llama-family causal LM) as an F32 GGUF; tokenizer and general metadata
    come from ``metadata_source`` (the GGUF the teacher was loaded from); hyperparameters from the model."""
    gguf = require("gguf")
    cfg = model.config
    if getattr(cfg, "model_type", "") not in ("llama", "mistral"):
        raise ExportError(f"GGUF export supports llama-architecture teachers, not {cfg.model_type!r}")
    reader = gguf.GGUFReader(str(metadata_source))
    out = Path(out)
    tmp = out.with_name(out.name + ".partial")
    w = gguf.GGUFWriter(str(tmp), arch="llama")
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in _SKIP or not key.startswith(_COPY_PREFIXES):
            continue
        types = field.types
        if types[0] == gguf.GGUFValueType.ARRAY:
            w.add_key_value(key, field.contents(), types[0], sub_type=types[-1])
        else:
            w.add_key_value(key, field.contents(), types[0])
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    w.add_block_count(cfg.num_hidden_layers)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_freq_base(float(getattr(cfg, "rope_theta", 10000.0)))
    w.add_layer_norm_rms_eps(float(cfg.rms_norm_eps))
    w.add_vocab_size(cfg.vocab_size)
    w.add_rope_dimension_count(head_dim)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    for name, arr in tensor_map(model):
        w.add_tensor(name, np.ascontiguousarray(arr, dtype=np.float32))
    try:
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
    finally:
        w.close()
    os.replace(tmp, out)
    return out


def quantize(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], *, ftype: str = "Q8_0", threads: int = 2
) -> Path:
    """llama.cpp's quantizer, through llama-cpp-python (written to a temporary name, renamed on success)."""
    try:
        import llama_cpp
    except ImportError:
        raise missing_extra("gguf", "llama_cpp", "GGUF quantization uses llama.cpp") from None
    ftypes = {
        "Q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0,
        "F16": llama_cpp.LLAMA_FTYPE_MOSTLY_F16,
        "Q4_1": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_1,
    }
    if ftype not in ftypes:
        raise ExportError(f"unknown GGUF type {ftype!r} (choose from {', '.join(ftypes)})")
    dst = Path(dst)
    tmp = dst.with_name(dst.name + ".partial")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftypes[ftype]
    params.nthread = threads
    params.allow_requantize = True
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
    if rc != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise ExportError(f"llama.cpp quantization to {ftype} failed (code {rc})")
    os.replace(tmp, dst)
    return dst


# the GGUF gate: Q8_0 next-token logits must correlate this well with torch's on the validation prompts
MIN_LOGIT_CORRELATION = 0.99


def export_validated(
    model: Any, tok: Any, source: str | os.PathLike[str], out: str | os.PathLike[str], prompts: list[str]
) -> dict[str, Any]:
    """Fine-tuned teacher → F32 GGUF → Q8_0 (llama.cpp) at ``out``, validated against torch's next-token logits
        on ``prompts`` through :func:`~ondevice_rec.export.validate.validate`. Raises ``ExportError`` (and leaves no
    file) when the mean logit correlation is below ``MIN_LOGIT_CORRELATION``."""
    torch = require("torch")
    from ..backends.llama import LlamaRanker

    out = Path(out)
    f32 = write_gguf(model, source, out.with_name(out.name + ".f32"))
    try:
        quantize(f32, out, ftype="Q8_0")
    finally:
        f32.unlink(missing_ok=True)
    llm = LlamaRanker(str(out))
    try:
        ref_rows, got_rows = [], []
        for p in prompts:
            ids = tok(p, add_special_tokens=False, return_tensors="pt").input_ids
            with torch.no_grad():
                ref_rows.append(model(ids).logits[0, -1].float().numpy())
            got_rows.append(llm.next_token_logits(p))
    finally:
        llm.close()
    ref, got = np.stack(ref_rows), np.stack(got_rows)
    corr = float(np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(ref, got)]))
    report = validate(
        {
            "logit_correlation_q8_0_vs_torch": round(corr, 5),
            "top1_agreement": float(np.mean(ref.argmax(1) == got.argmax(1))),
            "max_abs_logit_diff": round(float(np.max(np.abs(ref - got))), 4),
            "prompts": len(prompts),
        },
        [Gate("logit_correlation_q8_0_vs_torch", ">=", MIN_LOGIT_CORRELATION, "GGUF Q8_0 vs torch logit correlation")],
    )
    if report.failures:
        out.unlink(missing_ok=True)
    report.require()
    return report.to_dict()
